"""What both importers share: reading a peer's config key by key (each key mapped, or listed with the
reason it is not), building the FineTuneJob spec by dotted paths, and turning names into URIs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

API = "tuneforge.io/v1alpha1"


class Reader:
    """A peer's config, read key by key: every key ends up mapped, listed as not supported with a
    reason, or listed as empty; none is dropped without a word."""

    def __init__(self, config: dict[str, Any], tool: str) -> None:
        self.config, self.tool = config, tool
        self.used: set[str] = set()
        self.notes: list[str] = []
        self.spec: dict[str, Any] = {}

    def has(self, key: str) -> bool:
        return not _empty(self.config.get(key))

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        value = self.config.get(key)
        return default if _empty(value) else value

    def put(self, path: str, value: Any) -> None:
        node = self.spec
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def copy(self, key: str, path: str, convert=None) -> None:
        """config[key] -> spec path (converted), when set."""
        value = self.get(key)
        if value is not None:
            self.put(path, convert(value) if convert else value)

    def unsupported(self, key: str, reason: str) -> None:
        if self.has(key):  # an empty one is listed with the other empty keys
            self.used.add(key)
            self.notes.append(f"{key}: not supported: {reason}")

    def note(self, text: str) -> None:
        self.notes.append(text)

    def leftovers(self) -> list[str]:
        """Keys no rule read: set ones as not supported, empty ones in one line."""
        out = [f"{key}: not supported: tuneforge has no field for it" for key in self.config
               if key not in self.used and not _empty(self.config[key])]
        empty = [key for key in self.config if key not in self.used and _empty(self.config[key])]
        if empty:
            out.append(f"ignored (empty in the {self.tool} config): {', '.join(empty)}")
        return out


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def model_uri(name: str, base: Path) -> str:
    """A hub id as hf://, a local path as file:// (relative to the config's folder)."""
    if name.startswith(("/", "./", "../", "~")) or (base / name).exists():
        return f"file://{(base / Path(name).expanduser()).resolve()}"
    return f"hf://{name}"


def dataset_uri(path: str, base: Path) -> str:
    if path.startswith(("/", "./", "../", "~")) or (base / path).exists():
        return f"file://{(base / Path(path).expanduser()).resolve()}"
    return f"hf://datasets/{path}"


def job_name(name: str | None, source: Path) -> str:
    """--name, or the config's file name made into a Kubernetes name."""
    raw = name or source.stem
    cleaned = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")[:63].strip("-")
    return cleaned or "imported"


def precision(bf16: Any, fp16: Any) -> str | None:
    """training.precision from the peers' bf16/fp16 switches (None: leave tuneforge's auto)."""
    if "auto" in (bf16, fp16):
        return "auto"
    if bf16 is True:
        return "bf16"
    if fp16 is True:
        return "fp16"
    return "fp32" if bf16 is False and fp16 in (False, None) else None


def deepspeed(r: Reader) -> None:
    """`deepspeed: <a config file>` as tuneforge's deepspeed settings, read from the peers' shipped file
    names (zero2, zero3_bf16, ds_z3_offload_config, ...)."""
    if not r.has("deepspeed"):
        return
    settings = _deepspeed_settings(r.get("deepspeed"))
    if settings:
        r.put("deepspeed", settings)
    else:
        r.note(f"deepspeed: not supported: {r.config['deepspeed']} (give the stage: deepspeed.stage)")


def _deepspeed_settings(path: str) -> dict[str, Any] | None:
    name = Path(str(path)).name.lower()
    stage = 3 if re.search(r"(zero|_z)3", name) else 2 if re.search(r"(zero|_z)2", name) else None
    if stage is None:
        return None
    settings: dict[str, Any] = {"stage": stage}
    if "offload" in name:
        settings["offloadOptimizer"] = True
        if stage == 3 and ("all" in name or "param" in name or "ds_z3_offload" in name):
            settings["offloadParameters"] = True
    return settings


# transformers' optimizer names the peers use that tuneforge runs under another name.
OPTIMIZER_ALIASES = {"adamw_8bit": "adamw_bnb_8bit", "adamw_torch_8bit": "adamw_bnb_8bit", "lion_bnb_8bit": "lion_8bit"}


def optimizer(r: Reader, key: str) -> None:
    from typing import get_args

    from ...api.training import Optimizer

    name = r.get(key)
    if name is None:
        return
    ours = OPTIMIZER_ALIASES.get(name, name)
    if ours in get_args(Optimizer):
        r.put("training.optimizer", ours)
        if ours != name:
            r.note(f"{key}: {name} -> training.optimizer: {ours} (the same 8-bit AdamW state, from bitsandbytes)")
    else:
        r.note(f"{key}: not supported: {name} (tuneforge: {', '.join(get_args(Optimizer))}); adamw_torch is used")


def reconcile(r: Reader) -> None:
    """Combinations the peer allows and tuneforge does not: dropped from the manifest, with the reason."""
    from ...api.training import BNB_OPTIMIZERS

    spec = r.spec
    adapter = spec.get("method") in ("lora", "qlora") or (spec.get("method") in ("dpo", "orpo", "kto", "grpo")
                                                          and spec.get("adapter") != "none")
    if "deepspeed" in spec and adapter:
        del spec["deepspeed"]
        r.note("deepspeed: not supported with an adapter: tuneforge trains adapters with plain data parallelism")
    optimizer = (spec.get("training") or {}).get("optimizer")
    if "deepspeed" in spec and optimizer in BNB_OPTIMIZERS:
        del spec["training"]["optimizer"]
        r.note(f"optimizer: not supported: {optimizer} with DeepSpeed ZeRO, which keeps its own optimizer state; "
               "adamw_torch is used")


SCHEDULERS = {"cosine", "linear", "constant", "constant_with_warmup", "polynomial", "inverse_sqrt", "cosine_with_restarts"}
# transformers' TrainingArguments names both peers pass through -> training.<field>
TRAINER_ARGUMENTS = {"gradient_accumulation_steps": "gradientAccumulationSteps", "max_steps": "maxSteps",
                     "warmup_ratio": "warmupRatio", "weight_decay": "weightDecay", "max_grad_norm": "maxGradNorm",
                     "tf32": "tf32", "seed": "seed", "logging_steps": "loggingSteps", "save_steps": "saveSteps",
                     "save_total_limit": "saveTotalLimit"}


def trainer_arguments(r: Reader, scheduler_key: str) -> None:
    """The settings both peers name as transformers does, the learning rate, and the scheduler."""
    for key, field in TRAINER_ARGUMENTS.items():
        r.copy(key, f"training.{field}")
    r.copy("learning_rate", "training.learningRate", float)
    scheduler = r.get(scheduler_key)
    if scheduler in SCHEDULERS:
        r.put("training.lrScheduler", scheduler)
    elif scheduler is not None:
        r.note(f"{scheduler_key}: not supported: {scheduler} (tuneforge: {', '.join(sorted(SCHEDULERS))})")
