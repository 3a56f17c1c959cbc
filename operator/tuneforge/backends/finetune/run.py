"""Fine-tuning inside the worker: the real work, with transformers, peft and TRL.

Implemented now: lora. The other methods share this path and land with the fine-tuning issue.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from ...api.finetune import FineTuneJob
from ...progress import Reporter
from ... import record, storage
from .data import load_rows, split

SAMPLE_PROMPT = "What is the capital of France?"


class MethodNotAvailable(Exception):
    """The method exists in the API but this worker version cannot run it yet."""


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


def _progress_callback(reporter: Reporter, history: list[dict[str, Any]]):
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                history.append({"step": state.global_step, "loss": logs["loss"]})
            reporter.progress(
                state.global_step,
                state.max_steps,
                loss=logs.get("loss"),
                epoch=round(state.epoch or 0.0, 3),
                learningRate=logs.get("learning_rate"),
            )

    return ProgressCallback()


def _last_checkpoint(folder: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def _sample(model_dir: Path) -> str:
    """One greedy generation from the model as written to disk, proving it loads and works."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    messages = [{"role": "user", "content": SAMPLE_PROMPT}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    return tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def _loss_plot(history: list[dict[str, Any]], path: Path) -> bool:
    if len(history) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("tuneforge fine-tune")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def run(job: FineTuneJob, raw: dict[str, Any], output: Path, reporter: Reporter) -> dict[str, Any]:
    spec = job.spec
    if spec.method != "lora":
        raise MethodNotAvailable(f"spec.method: {spec.method} is not available in this worker version yet (lora is)")

    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    t = spec.training
    torch.manual_seed(t.seed)
    # Data first: a dataset that does not match its format fails in seconds, before any model load.
    rows = load_rows(storage.resolve_dataset(spec.dataset), spec.dataset.format, spec.dataset.uri, t.seed, spec.dataset.max_samples)
    model_dir = storage.resolve_model(spec.model)
    train_rows, eval_rows = split(rows, spec.dataset.validation_fraction, t.seed)

    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=spec.model.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=spec.model.trust_remote_code)

    lora = spec.effective_lora()
    targets = "all-linear" if lora.target_modules == ["all-linear"] else lora.target_modules
    peft_config = LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
        use_rslora=lora.use_rslora, use_dora=lora.use_dora, bias=lora.bias, task_type="CAUSAL_LM",
    )
    checkpoints = output / "checkpoints"
    args = SFTConfig(
        output_dir=str(checkpoints),
        max_steps=t.max_steps or -1,
        num_train_epochs=t.epochs,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_steps or t.warmup_ratio,
        weight_decay=t.weight_decay,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        max_length=t.max_length,
        packing=t.packing,
        assistant_only_loss=t.assistant_only_loss,
        seed=t.seed,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        eval_strategy="steps" if eval_rows is not None and t.eval_steps else "no",
        eval_steps=t.eval_steps,
        report_to="none",
        disable_tqdm=True,
        **_device_settings(t.precision, t.gradient_checkpointing),
    )
    history: list[dict[str, Any]] = []
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train_rows, eval_dataset=eval_rows,
        processing_class=tokenizer, peft_config=peft_config,
        callbacks=[_progress_callback(reporter, history)],
    )
    # Progress goes out through the protocol; the trainer's own console printer would duplicate it.
    trainer.remove_callback(PrinterCallback)
    resume = _last_checkpoint(checkpoints)
    if resume:
        print(f"resuming from {resume}", flush=True)
    trainer.train(resume_from_checkpoint=resume)
    # Checkpoints exist to survive a restart; once the run is done they are only disk usage.
    shutil.rmtree(checkpoints, ignore_errors=True)

    adapter_dir = output / "adapter"
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    artifacts = {"adapter": "adapter"}
    if spec.output.merge_adapter:
        merged = trainer.model.merge_and_unload()
        merged_dir = output / "merged"
        merged.save_pretrained(merged_dir)
        tokenizer.save_pretrained(merged_dir)
        artifacts["model"] = "merged"
    if _loss_plot(history, output / "loss.png"):
        artifacts["lossCurve"] = "loss.png"
    (output / "loss-history.json").write_text(json.dumps(history) + "\n")

    metrics: dict[str, Any] = {
        "steps": trainer.state.global_step,
        "initialLoss": history[0]["loss"] if history else None,
        "finalLoss": history[-1]["loss"] if history else None,
        "resumedFrom": Path(resume).name if resume else None,
    }
    if "model" in artifacts:
        metrics["sample"] = {"prompt": SAMPLE_PROMPT, "completion": _sample(output / artifacts["model"])}
    inputs = {"model": spec.model.wire(), "dataset": spec.dataset.wire(), "modelPath": str(model_dir)}
    if metrics["finalLoss"] is not None and not math.isfinite(metrics["finalLoss"]):
        raise RuntimeError("training diverged: the final loss is not a finite number")
    return record.write(
        output, raw, inputs, artifacts, metrics,
        libraries=("torch", "transformers", "peft", "trl", "accelerate", "datasets"),
        skip=("checkpoints",),
    )

