"""ORPO, KTO and GRPO for real on the built-in model, on CPU, with few steps; each shows that it
learned in its own terms (held-out loss and reward margin; GRPO's rewards logged per step)."""

import json

import pytest
from support.run import run_example

from tuneforge.worker import record

pytestmark = pytest.mark.slow
# Held-out rows evaluated before the first step (the baseline) and after the last.
HELD_OUT = ("spec.dataset.validationFraction=0.05", "spec.training.evalSteps=8", "spec.training.maxSteps=8")


def evaluations(out):
    return [h for h in json.loads((out / "loss-history.json").read_text()) if "eval_loss" in h]


def test_orpo_lowers_the_held_out_loss_with_a_positive_margin(root, tmp_path):
    out = tmp_path / "orpo"
    rec = run_example(root, "finetune-orpo.yaml", out, *HELD_OUT)
    first, last = evaluations(out)[0], evaluations(out)[-1]
    assert (first["step"], last["step"]) == (0, 8)
    assert last["eval_loss"] < first["eval_loss"], (first, last)
    assert last["eval_rewards/margins"] > 0 and last["eval_rewards/accuracies"] > 0.5, last
    assert len(rec["metrics"]["rewardMargins"]) == 8
    assert rec["artifacts"] == {"adapter": "adapter", "lossCurve": "loss.png", "rewardCurve": "rewards.png"}
    assert record.mismatches(out) == []


def test_kto_on_split_pairs_lowers_the_held_out_loss(root, tmp_path):
    out = tmp_path / "kto"
    rec = run_example(root, "finetune-kto.yaml", out, *HELD_OUT)
    first, last = evaluations(out)[0], evaluations(out)[-1]
    assert first["eval_loss"] == pytest.approx(0.5), "KTO starts at 0.5: the adapter is a no-op, policy = reference"
    assert last["eval_loss"] < first["eval_loss"] and last["eval_rewards/margins"] > 0, (first, last)
    assert rec["metrics"]["evalRewardMargins"][-1] == last["eval_rewards/margins"]


def test_kto_reads_unpaired_rows(root, tmp_path):
    rows = tmp_path / "unpaired.jsonl"
    pairs = [json.loads(line) for line in (root / "operator/tuneforge/data/preference-mini.jsonl").read_text().splitlines()]
    with rows.open("w") as f:
        for n, pair in enumerate(pairs[:40]):
            side = "chosen" if n % 3 else "rejected"  # unpaired and unbalanced: 27 desirable, 13 not
            f.write(json.dumps({"prompt": pair["prompt"], "completion": pair[side], "label": side == "chosen"}) + "\n")
    out = tmp_path / "kto-unpaired"
    rec = run_example(root, "finetune-kto.yaml", out, f"spec.dataset.uri=file://{rows}", "spec.dataset.format=unpaired",
                      "spec.kto.undesirableWeight=2.0", "spec.training.maxSteps=3")
    assert rec["metrics"]["steps"] == 3 and rec["metrics"]["kl"]


def test_grpo_logs_each_reward_per_step_with_its_weight(root, tmp_path):
    out = tmp_path / "grpo"
    rec = run_example(root, "finetune-grpo.yaml", out, "spec.training.maxSteps=3", "spec.grpo.maxCompletionLength=16")
    m = rec["metrics"]
    rewards = m["rewards"]
    assert set(rewards) == {"exact-match", "numeric-match", "length-penalty"}
    assert all(len(series) == 3 for series in rewards.values()) and len(m["rewardMean"]) == 3
    assert all(0 <= v <= 1 for v in rewards["exact-match"] + rewards["numeric-match"])
    assert all(-1 <= v <= 0 for v in rewards["length-penalty"])
    weights = {"exact-match": 1.0, "numeric-match": 0.5, "length-penalty": 0.2}  # examples/finetune-grpo.yaml
    for step, mean in enumerate(m["rewardMean"]):
        assert mean == pytest.approx(sum(w * rewards[name][step] for name, w in weights.items()), abs=1e-5)
    assert all(0 < length <= 16 for length in m["completionLength"])
    assert rec["artifacts"]["rewardCurve"] == "rewards.png" and (out / "rewards.png").stat().st_size > 10_000


@pytest.mark.parametrize("example", ["finetune-dpo.yaml", "finetune-orpo.yaml"])
def test_preference_methods_train_on_a_4bit_base(root, tmp_path, example):
    out = tmp_path / "q"
    rec = run_example(root, example, out, "spec.quantization={bits: 4}", "spec.training.maxSteps=2",
                      "spec.training.maxLength=96", "spec.output.mergeAdapter=false")
    assert rec["metrics"]["linear4bitModules"] == 210 and rec["metrics"]["steps"] == 2
    assert rec["artifacts"]["adapter"] == "adapter"


def test_full_parameter_dpo_writes_a_whole_model(root, tmp_path):
    out = tmp_path / "dpo-full"
    rec = run_example(root, "finetune-dpo.yaml", out, "spec.adapter=none", "spec.lora=null", "spec.training.maxSteps=2",
                      "spec.training.maxLength=96", "spec.training.learningRate=5e-6", "spec.output.mergeAdapter=false")
    assert rec["artifacts"]["model"] == "model" and "adapter" not in rec["artifacts"]
    assert rec["metrics"]["rewardMargins"][0] == 0.0, "policy and its frozen copy start equal"
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out / "model").config.use_cache is True
