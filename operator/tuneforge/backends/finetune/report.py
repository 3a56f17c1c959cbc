"""What a fine-tuning run reports: progress per logged step, the loss curve, and the record's metrics
(the learning signal in each method's own terms)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ...api.finetune import PREFERENCE_METHODS
from ...worker.progress import Reporter


def progress_callback(reporter: Reporter | None, history: list[dict[str, Any]]):
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


def curve_plot(history: list[dict[str, Any]], path: Path, title: str, series: dict[str, str], ylabel: str) -> bool:
    """One line per logged series (label -> log key) over the steps; nothing when no series has 2 points."""
    lines = {label: [h for h in history if key in h] for label, key in series.items()}
    lines = {label: points for label, points in lines.items() if points}
    if max((len(points) for points in lines.values()), default=0) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for (label, points), marker in zip(lines.items(), "os^vD<>*", strict=False):
        key = series[label]
        ax.plot([h["step"] for h in points], [h[key] for h in points], marker=marker, markersize=3, label=label)
    if len(lines) > 1:
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, metadata={"Title": title})  # also in the file, for tools that list images
    plt.close(fig)
    return True


def plots(spec, history: list[dict[str, Any]], output: Path, title: str) -> dict[str, str]:
    """loss.png for every method; rewards.png where the method's signal is a reward (GRPO: each reward
    and their weighted sum) or a margin (DPO, ORPO, KTO: chosen over rejected)."""
    made = {}
    if curve_plot(history, output / "loss.png", title, {"train": "loss", "eval": "eval_loss"}, "loss"):
        made["lossCurve"] = "loss.png"
    if spec.method == "grpo":
        rewards = {"weighted sum": "reward"}
        rewards.update({r.name: f"rewards/{r.name.replace('-', '_')}/mean" for r in (spec.grpo.rewards if spec.grpo else [])})
        ylabel = "mean reward"
    else:
        rewards, ylabel = {"train": "rewards/margins", "eval": "eval_rewards/margins"}, "reward margin"
    if spec.method in PREFERENCE_METHODS and curve_plot(history, output / "rewards.png", title, rewards, ylabel):
        made["rewardCurve"] = "rewards.png"
    return made


def metrics_of(spec, trainer, history: list[dict[str, Any]], resume: str | None, seconds: float, cuda: bool) -> dict[str, Any]:
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
        "attention": trainer.model.config._attn_implementation,
        "ligerKernels": bool(trainer.args.use_liger_kernel),
        "optimizer": _optimizer_class(trainer),
    }
    if cuda:
        metrics["peakGpuMemoryBytes"] = torch.cuda.max_memory_allocated()
        metrics["gpu"] = torch.cuda.get_device_name()
    if spec.quantization is not None:
        metrics[f"linear{spec.quantization.bits}bitModules"] = _count_quantized(trainer.model, spec.quantization.bits)
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


def _optimizer_class(trainer) -> str | None:
    """The optimizer that ran, by class (accelerate wraps it; DeepSpeed's engine holds its own)."""
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    if optimizer is None:
        return None
    name = f"{type(optimizer).__module__}.{type(optimizer).__qualname__}"
    bits = getattr(getattr(optimizer, "args", None), "optim_bits", None)  # bitsandbytes: one class, 8 or 32 bits
    return f"{name} ({bits}-bit state)" if bits else name


def _count_quantized(model, bits: int) -> int:
    import bitsandbytes as bnb

    kind = bnb.nn.Linear4bit if bits == 4 else bnb.nn.Linear8bitLt
    return sum(1 for m in model.modules() if isinstance(m, kind))


def _tokens_per_second(trainer, seconds: float) -> float | None:
    seen = getattr(trainer.state, "num_input_tokens_seen", 0) or 0
    return round(seen / seconds, 1) if seen and seconds > 0 else None
