"""Several worker processes on CPU: plain torchrun (DDP over gloo) and DeepSpeed ZeRO-2/3."""

import pytest
from support.run import learned, run_example

pytestmark = pytest.mark.slow
SHORT = ("spec.training.maxSteps=4", "spec.training.maxLength=96", "spec.training.batchSize=2")


def test_two_process_torchrun(root, tmp_path):
    out = tmp_path / "ddp"
    rec = run_example(root, "finetune-lora-local.yaml", out, "spec.output.mergeAdapter=false", *SHORT, processes=2)
    assert rec["metrics"]["worldSize"] == 2
    assert rec["metrics"]["distributedType"] == "MULTI_CPU"
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_zero_on_cpu(root, tmp_path, stage):
    out = tmp_path / f"zero{stage}"
    rec = run_example(root, "finetune-full-local.yaml", out, f"spec.deepspeed.stage={stage}",
                      "spec.training.learningRate=5e-5", *SHORT, processes=2)
    assert rec["metrics"]["distributedType"] == "DEEPSPEED"
    assert rec["metrics"]["worldSize"] == 2
    assert learned(out)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(out / "model")
    assert model.num_parameters() > 100_000_000, "ZeRO-3 shards are gathered into a whole model on save"
