"""Training options that must visibly take effect: the optimizer that ran, gradients clipped to
maxGradNorm at the optimizer step, the loss watchdog stopping a run driven to diverge, and an 8-bit
base under LoRA. Real runs on the built-in model, a few steps each."""

import json

import pytest
from support.builders import finetune
from support.run import run_doc, tuneforge

pytestmark = pytest.mark.slow
SHORT = {"maxSteps": 3, "learningRate": 1.0e-3, "batchSize": 2, "maxLength": 64}


def test_gradients_are_clipped_to_max_grad_norm_before_the_step(tmp_path):
    """In the worker's own trainer: the norm the optimizer sees is maxGradNorm whenever the raw norm
    (what the trainer logs) is above it."""
    import torch
    from transformers import TrainerCallback

    from tuneforge.api.finetune import FineTuneJob
    from tuneforge.backends.finetune import run, trainers
    from tuneforge.backends.finetune.data import training_rows
    from tuneforge.backends.finetune.models import load
    from tuneforge.sources import resolve_model

    job = FineTuneJob.model_validate(dict(finetune("lora").set("spec.training", {**SHORT, "maxGradNorm": 0.05})))
    model, tokenizer = load(job.spec, resolve_model(job.spec.model), cuda=False)
    train, _, _ = training_rows(job.spec)
    seen, logged = [], []

    class AtTheStep(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "grad_norm" in logs:
                logged.append(logs["grad_norm"])

    args = run._trainer_args(job.spec, tmp_path / "checkpoints", has_eval=False, cuda=False)
    trainer = trainers.build(job.spec, model, tokenizer, train, None, args, [], [AtTheStep()])
    trainer.train()
    assert len(seen) == 3 and all(raw > 0.05 for raw in logged), logged
    assert seen == pytest.approx([0.05] * 3, rel=1e-3), (seen, logged)


def test_tf32_and_the_optimizer_reach_the_trainer_arguments(tmp_path):
    from tuneforge.api.finetune import FineTuneSpec
    from tuneforge.backends.finetune import run

    spec = FineTuneSpec.model_validate(finetune("lora").set("spec.resources.gpus", 1).set(
        "spec.training", {"tf32": True, "optimizer": "paged_adamw_8bit", "maxGradNorm": 0.3})["spec"])
    args = run._trainer_args(spec, tmp_path, has_eval=False, cuda=False)
    assert (args["tf32"], args["optim"], args["max_grad_norm"]) == (True, "paged_adamw_8bit", 0.3)
    unset = run._trainer_args(FineTuneSpec.model_validate(finetune("lora")["spec"]), tmp_path, has_eval=False, cuda=False)
    assert "tf32" not in unset and unset["optim"] == "adamw_torch"


def test_the_loss_watchdog_stops_a_diverging_run_and_keeps_the_last_good_checkpoint(tmp_path):
    # A learning rate two hundred times too high drives the loss up within a few steps.
    doc = finetune("full", name="diverge").set("spec.training", {
        "maxSteps": 40, "learningRate": 0.2, "batchSize": 2, "maxLength": 64, "saveSteps": 1, "saveTotalLimit": 40,
        "lossWatchdog": {"threshold": 6.0, "patience": 2}})
    path = tmp_path / "diverge.yaml"
    import yaml

    path.write_text(yaml.safe_dump(dict(doc)))
    proc = tuneforge("run", str(path), "--output", str(tmp_path / "diverge"), timeout=1200)
    log = tmp_path / "diverge.log"
    text = proc.stderr + (log.read_text() if log.exists() else "")
    assert proc.returncode == 2, text[-3000:]
    message = next(line for line in text.splitlines() if "training.lossWatchdog" in line)
    assert "the training loss stayed above 6 for 2 logged steps in a row (from step " in message, message
    first = int(message.split("(from step ")[1].split(";")[0])
    stopped = int(message.split("; step ")[1].split(":")[0])
    assert stopped == first + 1 and stopped < 40, message
    kept = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "diverge" / "checkpoints").glob("checkpoint-*"))
    assert kept and max(kept) < first, (kept, message)
    assert f"checkpoint-{max(kept)} in " in message


def test_lora_on_an_8bit_base_with_an_8bit_optimizer(tmp_path):
    doc = finetune("lora", name="int8").set("spec.quantization", {"bits": 8}).set(
        "spec.training", {**SHORT, "optimizer": "adamw_bnb_8bit"})
    out, _ = run_doc(tmp_path, dict(doc), "int8")
    metrics = json.loads((out / "tuneforge-output.json").read_text())["metrics"]
    # Every linear layer of the 30 blocks is bitsandbytes' Linear8bitLt (the head stays in full precision),
    # and the optimizer that ran is bitsandbytes' AdamW keeping its state in 8 bits.
    assert metrics["linear8bitModules"] == 210 and metrics["steps"] == 3
    assert metrics["optimizer"] == "bitsandbytes.optim.adamw.AdamW (8-bit state)"
