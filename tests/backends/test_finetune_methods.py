"""full, qlora and dpo for real on the built-in model, on CPU, with few steps."""

import pytest
from support.run import learned, run_example

from tuneforge.worker import record

pytestmark = pytest.mark.slow
SHORT = ("spec.training.maxLength=128",)


def test_full_lowers_the_loss_and_writes_a_loadable_model(root, tmp_path):
    out = tmp_path / "full"
    rec = run_example(root, "finetune-full-local.yaml", out, "spec.deepspeed=null", "spec.training.maxSteps=6",
                      "spec.training.learningRate=5e-5", "spec.training.evalSteps=3", *SHORT)
    assert learned(out)
    assert rec["artifacts"]["model"] == "model" and "adapter" not in rec["artifacts"]
    assert rec["metrics"]["evalLoss"] is not None
    assert record.mismatches(out) == []
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out / "model").num_parameters() > 100_000_000


def test_qlora_trains_on_a_4bit_base(root, tmp_path):
    out = tmp_path / "qlora"
    rec = run_example(root, "finetune-qlora-local.yaml", out, "spec.training.maxSteps=6", *SHORT)
    assert learned(out)
    assert rec["metrics"]["linear4bitModules"] == 210  # every linear layer of the 30 blocks, head excluded
    assert rec["artifacts"]["model"] == "merged"
    assert rec["metrics"]["sample"]["completion"]


def test_dpo_raises_the_reward_margin(root, tmp_path):
    out = tmp_path / "dpo"
    rec = run_example(root, "finetune-dpo.yaml", out, "spec.training.maxSteps=10", "spec.training.learningRate=5e-4",
                      "spec.training.batchSize=4", *SHORT)
    margins, accuracies = rec["metrics"]["rewardMargins"], rec["metrics"]["rewardAccuracies"]
    assert margins[0] == 0.0, "the adapter starts as a no-op: policy equals reference"
    assert sum(margins[-5:]) / 5 > 0.02, margins
    assert sum(accuracies[-5:]) / 5 > 0.5, accuracies
