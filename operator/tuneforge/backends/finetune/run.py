"""Fine-tuning inside the worker: the real work, with transformers, peft and TRL.

full (optionally DeepSpeed ZeRO), lora, qlora (4-bit base), dpo, orpo, kto and grpo share one path:
load the data (checked first), load the model the method's way, build the method's TRL trainer
(trainers.py), train (resuming from the latest checkpoint if one exists), save, and write the record. Under torchrun only rank 0 reports
progress and writes the record.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from ... import sources
from ...worker import record
from ...api.finetune import FineTuneJob
from ...errors import InputError
from ...worker.progress import Reporter
from ..sampling import maybe_sample
from ..common.rows import load_splits
from . import trainers
from .models import load
from .plan import deepspeed_config

GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


def _device_settings(precision: str, checkpointing: str) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    return {
        "use_cpu": not cuda,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "gradient_checkpointing": checkpointing == "on" or (checkpointing == "auto" and cuda),
    }


def _progress_callback(reporter: Reporter | None, history: list[dict[str, Any]]):
    from transformers import TrainerCallback

    started = time.monotonic()

    class ProgressCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs or "eval_loss" in logs:
                history.append({"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, int | float)}})
            if reporter is None:
                return
            elapsed = time.monotonic() - started
            seen = getattr(state, "num_input_tokens_seen", 0) or 0
            reporter.progress(
                state.global_step,
                state.max_steps,
                loss=logs.get("loss"),
                epoch=round(state.epoch or 0.0, 3),
                learningRate=logs.get("learning_rate"),
                tokensPerSecond=round(seen / elapsed, 1) if seen and elapsed > 0 else None,
            )

    return ProgressCallback()


def _last_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint: a pod killed while saving leaves one without trainer state."""
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def _loss_plot(history: list[dict[str, Any]], path: Path, title: str) -> bool:
    if sum(1 for h in history if "loss" in h) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    points = [h for h in history if "loss" in h]
    ax.plot([h["step"] for h in points], [h["loss"] for h in points], marker="o", markersize=3, label="train")
    evals = [h for h in history if "eval_loss" in h]
    if evals:
        ax.plot([h["step"] for h in evals], [h["eval_loss"] for h in evals], marker="s", markersize=3, label="eval")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, metadata={"Title": title})  # also in the file, for tools that list images
    plt.close(fig)
    return True


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _trainer_args(spec, checkpoints: Path, has_eval: bool, cuda: bool) -> dict[str, Any]:
    t = spec.training
    args: dict[str, Any] = dict(
        output_dir=str(checkpoints),
        max_steps=t.max_steps or -1,
        num_train_epochs=t.epochs,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_steps or t.warmup_ratio,
        weight_decay=t.weight_decay,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        seed=t.seed,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        eval_strategy="steps" if has_eval and t.eval_steps else "no",
        eval_steps=t.eval_steps,
        # A baseline on the held rows before the first step, so a falling evaluation loss is visible.
        eval_on_start=bool(has_eval and t.eval_steps),
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="all",
        ddp_find_unused_parameters=False if spec.trains_adapter() else None,
        **_device_settings(t.precision, t.gradient_checkpointing),
    )
    args.update(trainers.method_args(spec))
    ds = deepspeed_config(spec)
    if ds is not None:
        args["deepspeed"] = ds
    return args


def run(job: FineTuneJob, raw: dict[str, Any], output: Path, reporter: Reporter) -> dict[str, Any]:
    import torch
    from transformers import PrinterCallback

    spec, t, cuda = job.spec, job.spec.training, torch.cuda.is_available()
    torch.manual_seed(t.seed)
    # Data first: a dataset that does not match its format fails in seconds, before any model load.
    train_rows, eval_rows = trainers.prepare_rows(spec, *load_splits(sources.resolve_dataset(spec.dataset), spec.dataset, t.seed))
    model_dir = sources.resolve_model(spec.model)
    model, tokenizer = load(spec, model_dir, cuda)
    if t.assistant_only_loss and not GENERATION_TAG.search(tokenizer.chat_template or ""):
        raise InputError(
            "training.assistantOnlyLoss: this model's chat template does not mark assistant turns "
            "({% generation %} ... {% endgeneration %}), so the loss cannot be limited to them; "
            "turn it off or use a model whose template has the markers"
        )

    checkpoints, history = output / "checkpoints", []
    args = _trainer_args(spec, checkpoints, eval_rows is not None, cuda)
    trainer = trainers.build(spec, model, tokenizer, train_rows, eval_rows, args,
                             [_progress_callback(reporter if _is_main_process() else None, history)])
    # Progress goes out through the protocol; the trainer's own console printer would duplicate it.
    trainer.remove_callback(PrinterCallback)
    resume = _last_checkpoint(checkpoints)
    if resume:
        print(f"resuming from {resume}", flush=True)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.monotonic() - started

    artifacts = _save(spec, trainer, tokenizer, output)
    if not _is_main_process():
        return {}
    if spec.deepspeed is not None:
        # Loads after training (merge, sample) must not run under ZeRO-3's partitioned init:
        # the other ranks are gone, and the saved model is whole.
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
    if spec.trains_adapter() and spec.output.merge_adapter:
        _merge_adapter(spec, model_dir, output / "adapter", output / "merged", tokenizer)
        artifacts["model"] = "merged"
    # Checkpoints exist to survive a restart; once the run is done they are only disk usage.
    shutil.rmtree(checkpoints, ignore_errors=True)
    title = f"{job.kind}/{job.metadata.name}: {spec.method} on {spec.model.describe().rstrip('/').split('/')[-1]}"
    if _loss_plot(history, output / "loss.png", title):
        artifacts["lossCurve"] = "loss.png"
    (output / "loss-history.json").write_text(json.dumps(history) + "\n")

    metrics = _metrics(spec, trainer, history, resume, seconds, cuda)
    if "model" in artifacts:
        metrics["sample"] = maybe_sample(spec.output.sample, output / artifacts["model"])
    if metrics["finalLoss"] is not None and not math.isfinite(metrics["finalLoss"]):
        raise RuntimeError("training diverged: the final loss is not a finite number")
    inputs = {"model": spec.model.wire(), "dataset": spec.dataset.wire(), "modelPath": str(model_dir)}
    return record.write(
        output, raw, inputs, artifacts, metrics,
        libraries=("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", "deepspeed"),
        skip=("checkpoints",),
    )


def _save(spec, trainer, tokenizer, output: Path) -> dict[str, str]:
    """The trained model (full) or adapter, with its tokenizer; every rank takes part in saving."""
    if not spec.trains_adapter():
        trainer.save_model(str(output / "model"))
        if _is_main_process():
            tokenizer.save_pretrained(output / "model")
        return {"model": "model"}
    trainer.model.save_pretrained(output / "adapter")
    tokenizer.save_pretrained(output / "adapter")
    return {"adapter": "adapter"}


def _metrics(spec, trainer, history: list[dict[str, Any]], resume: str | None, seconds: float, cuda: bool) -> dict[str, Any]:
    import torch

    losses = [h for h in history if "loss" in h]
    metrics: dict[str, Any] = {
        "steps": trainer.state.global_step,
        "initialLoss": losses[0]["loss"] if losses else None,
        "finalLoss": losses[-1]["loss"] if losses else None,
        "resumedFrom": Path(resume).name if resume else None,
        "trainSeconds": round(seconds, 1),
        "tokensPerSecond": _tokens_per_second(trainer, seconds),
        "distributedType": str(trainer.accelerator.distributed_type.value),
        "worldSize": trainer.accelerator.num_processes,
        "evalLoss": next((h["eval_loss"] for h in reversed(history) if "eval_loss" in h), None),
    }
    if cuda:
        metrics["peakGpuMemoryBytes"] = torch.cuda.max_memory_allocated()
        metrics["gpu"] = torch.cuda.get_device_name()
    if spec.quantization is not None:
        metrics["linear4bitModules"] = _count_4bit(trainer.model)
    metrics.update(_method_metrics(spec, history))
    return metrics


# Per-step series each method's trainer logs, recorded under these names (the learning signal in
# the method's own terms: reward margins for preference methods, rewards for GRPO).
SERIES = {
    "dpo": {"rewardMargins": "rewards/margins", "rewardAccuracies": "rewards/accuracies",
            "evalRewardMargins": "eval_rewards/margins"},
    "orpo": {"rewardMargins": "rewards/margins", "rewardAccuracies": "rewards/accuracies",
             "logOddsRatio": "log_odds_ratio", "nllLoss": "nll_loss", "evalRewardMargins": "eval_rewards/margins"},
    "kto": {"rewardMargins": "rewards/margins", "rewardChosen": "rewards/chosen", "rewardRejected": "rewards/rejected",
            "kl": "kl", "evalRewardMargins": "eval_rewards/margins"},
    "grpo": {"rewardMean": "reward", "rewardStd": "reward_std", "completionLength": "completions/mean_length"},
}


def _method_metrics(spec, history: list[dict[str, Any]]) -> dict[str, Any]:
    series = dict(SERIES.get(spec.method, {}))
    if spec.method == "grpo":
        for reward in spec.grpo.rewards if spec.grpo else []:
            name = reward.name.replace("-", "_")
            series[f"reward:{reward.name}"] = f"rewards/{name}/mean"
    found = {key: [h[log] for h in history if log in h] for key, log in series.items()}
    rewards = {key.split(":", 1)[1]: values for key, values in found.items() if key.startswith("reward:")}
    out = {key: values for key, values in found.items() if not key.startswith("reward:")}
    if rewards:
        out["rewards"] = rewards
    return out


def _count_4bit(model) -> int:
    import bitsandbytes as bnb

    return sum(1 for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))


def _tokens_per_second(trainer, seconds: float) -> float | None:
    seen = getattr(trainer.state, "num_input_tokens_seen", 0) or 0
    return round(seen / seconds, 1) if seen and seconds > 0 else None


def _merge_adapter(spec, model_dir: Path, adapter_dir: Path, target: Path, tokenizer) -> None:
    """Fold the adapter into a full-precision copy of the base (a 4-bit base cannot be merged into)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=spec.model.trust_remote_code)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(target)
    tokenizer.save_pretrained(target)
