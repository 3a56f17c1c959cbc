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
import sys
import time
from pathlib import Path
from typing import Any

from ... import sources
from ...worker import record
from ...api.finetune import FineTuneJob
from ...errors import Preempted
from ...worker.progress import Reporter
from .report import metrics_of, plots, progress_callback
from ..sampling import maybe_sample
from .data import training_rows
from . import speed, tokens, trainers, watchdog
from .checkpoints import Store, newest
from .tracking import Tracker
from .models import load, with_kv_cache, without_kv_cache
from .plan import deepspeed_config

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
        optim=t.optimizer,
        max_grad_norm=t.max_grad_norm,
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
        use_liger_kernel=speed.liger(t.liger_kernels, cuda),
        # SIGTERM (preemption, eviction, drain): save a checkpoint at once and stop (see _train).
        enable_jit_checkpoint=True,
        **_device_settings(t.precision, t.gradient_checkpointing),
    )
    if t.tf32 is not None:
        args["tf32"] = t.tf32
    args.update(trainers.method_args(spec))
    ds = deepspeed_config(spec)
    if ds is not None:
        args["deepspeed"] = ds
    return args


def _without_bitsandbytes(spec) -> None:
    """peft and transformers import bitsandbytes whenever it is installed, and its import compiles
    kernels with torch.compile (about 2 s of every worker's start on CI's CPUs, and a warning about
    missing CPU kernels); a job that quantizes nothing and uses none of its optimizers is told it is absent."""
    if not spec.uses_bitsandbytes() and "bitsandbytes" not in sys.modules:
        sys.modules["bitsandbytes"] = None  # importlib.util.find_spec then answers None, as for a missing package


def run(job: FineTuneJob, raw: dict[str, Any], output: Path, reporter: Reporter) -> dict[str, Any]:
    _without_bitsandbytes(job.spec)
    import torch
    from transformers import PrinterCallback

    spec, t, cuda = job.spec, job.spec.training, torch.cuda.is_available()
    torch.manual_seed(t.seed)
    # Data first: a dataset that does not match its format fails in seconds, before any model load.
    train_rows, eval_rows, taken = training_rows(spec)
    train_rows, eval_rows = trainers.prepare_rows(spec, train_rows, eval_rows)
    model_dir = sources.resolve_model(spec.model)
    model, tokenizer, changes = _load(spec, model_dir, cuda)

    store, history = Store(spec, output, reporter.output_uri), []
    resume = store.restore(first=_is_main_process())
    tracker = Tracker(job, store.local)
    if _is_main_process():
        tracker.start()
        if resume:
            reporter.context.update(resumedFrom=Path(resume).name, restarts=store.restarts())
            reporter.progress(int(Path(resume).name.split("-")[-1]), None, force=True,
                              stage=f"resuming from {Path(resume).name}")
    with tracker.active():  # an error from here on ends the MLflow run as FAILED (a preemption does not)
        args = {**_trainer_args(spec, store.local, eval_rows is not None, cuda), "report_to": tracker.report_to()}
        watch = watchdog.callback(t.loss_watchdog) if t.loss_watchdog else None
        trainer = trainers.build(spec, model, tokenizer, train_rows, eval_rows, args, changes.added_ids,
                                 [progress_callback(reporter if _is_main_process() else None, history),
                                  _upload_callback(store), *([watch] if watch else [])])
        # Progress goes out through the protocol; the trainer's own console printer would duplicate it.
        trainer.remove_callback(PrinterCallback)
        seconds = _train(trainer, resume, store, watch, t.loss_watchdog)
        artifacts = _save(spec, trainer, tokenizer, output)
        _leave_process_group()
        if not _is_main_process():
            return {}
        metrics = _finish(job, model_dir, output, trainer, tokenizer, history, artifacts, seconds, cuda, resume)
    metrics.update(changes.record())
    metrics["restarts"] = store.restarts()
    store.finished()
    tracking = tracker.finish(reporter.output_uri or f"file://{output.resolve()}", metrics)
    if tracking:
        metrics["tracking"] = tracking
    inputs = {"model": spec.model.wire(), "datasets": taken, "modelPath": str(model_dir),
              "checkpoints": store.location}
    return record.write(
        output, raw, inputs, artifacts, metrics,
        libraries=("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", "deepspeed", "mlflow"),
        skip=("checkpoints",),
    )


def _load(spec, model_dir: Path, cuda: bool):
    model, tokenizer = load(spec, model_dir, cuda)
    without_kv_cache(model, spec)
    return model, tokenizer, tokens.prepare(spec, model, tokenizer)


def _leave_process_group() -> None:
    """Every rank leaves together once the model is saved: a rank that exited while rank 0 still wrote
    (ZeRO-3 under load) aborted in the process group's teardown ("terminate called without an active
    exception") and torchrun then killed rank 0. Rank 0's later work (merge, sample) is local."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _upload_callback(store: Store):
    from transformers import TrainerCallback

    class UploadCallback(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_local_process_zero:
                store.saved(first=state.is_world_process_zero)

    return UploadCallback()


def _train(trainer, resume: str | None, store: Store, watch=None, watch_settings=None) -> float:
    """Train; a SIGTERM makes transformers save a checkpoint at once and stop early: that checkpoint
    goes to the location and the worker exits as preempted, for the Job's next pod to resume. A run
    the loss watchdog stopped fails instead."""
    if resume:
        print(f"resuming from {resume}", flush=True)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=resume)
    if watch is not None and watch.tripped:
        kept = newest(store.local)
        watchdog.verdict(watch, watch_settings, kept.name if kept else None, store.location)
    state = trainer.state
    if state.max_steps > 0 and state.global_step < state.max_steps:
        if os.environ.get("LOCAL_RANK", "0") == "0":
            store.saved(first=_is_main_process())
        # transformers saves the state before the step it was in when the signal came.
        saved = newest(store.local)
        raise Preempted(f"stopped at step {state.global_step} of {state.max_steps}; "
                        f"{saved.name if saved else 'no checkpoint'} is in {store.location}, where the next start resumes")
    return time.monotonic() - started


def _finish(job, model_dir, output, trainer, tokenizer, history, artifacts, seconds, cuda, resume) -> dict[str, Any]:
    """Rank 0 after training: merge, plot, metrics, sample."""
    spec = job.spec
    if spec.deepspeed is not None:
        # Loads after training (merge, sample) must not run under ZeRO-3's partitioned init:
        # the other ranks are gone, and the saved model is whole.
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
    if spec.trains_adapter() and spec.output.merge_adapter:
        _merge_adapter(spec, model_dir, output / "adapter", output / "merged", tokenizer)
        artifacts["model"] = "merged"
    title = f"{job.kind}/{job.metadata.name}: {spec.method} on {spec.model.describe().rstrip('/').split('/')[-1]}"
    artifacts.update(plots(spec, history, output, title))
    (output / "loss-history.json").write_text(json.dumps(history) + "\n")
    metrics = metrics_of(spec, trainer, history, resume, seconds, cuda)
    if "model" in artifacts:
        metrics["sample"] = maybe_sample(spec.output.sample, output / artifacts["model"])
    if metrics["finalLoss"] is not None and not math.isfinite(metrics["finalLoss"]):
        raise RuntimeError("training diverged: the final loss is not a finite number")
    return metrics


def _save(spec, trainer, tokenizer, output: Path) -> dict[str, str]:
    """The trained model (full) or adapter, with its tokenizer; every rank takes part in saving."""
    if not spec.trains_adapter():
        with_kv_cache(trainer.model)
        trainer.save_model(str(output / "model"))
        if _is_main_process():
            tokenizer.save_pretrained(output / "model")
        return {"model": "model"}
    trainer.model.save_pretrained(output / "adapter")
    tokenizer.save_pretrained(output / "adapter")
    return {"adapter": "adapter"}


def _merge_adapter(spec, model_dir: Path, adapter_dir: Path, target: Path, tokenizer) -> None:
    """Fold the adapter into a full-precision copy of the base (a 4-bit base cannot be merged into)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=spec.model.trust_remote_code)
    if len(tokenizer) > base.get_input_embeddings().num_embeddings:  # specialTokens added to the vocabulary
        base.resize_token_embeddings(len(tokenizer))
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(target)
    tokenizer.save_pretrained(target)
