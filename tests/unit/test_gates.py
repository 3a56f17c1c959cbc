"""spec.gate: the messages for bad values, the verdict from a record's metrics, and what the operator
makes of a failed gate (the resource's status and its fromJob consumers)."""

import pytest
from support.builders import finetune, merge, quantize

from tuneforge.api.manifest import parse
from tuneforge.backends.gates import check, describe, quantize_checks
from tuneforge.controller import chaining, status
from tuneforge.controller.settings import Settings

EVAL = {"validationFraction": 0.1}

CASES = [
    (finetune("lora").set("spec.gate", {}), "spec.gate: a gate needs a threshold: maxEvalLoss, maxPerplexity or exactMatch"),
    (finetune("lora").set("spec.gate", {"maxEvalLoss": 2}),
     "spec.gate.maxEvalLoss: gating on evaluation needs an evaluation: set training.evalSteps"),
    (finetune("lora").set("spec.gate", {"maxPerplexity": 0.5}), "spec.gate.maxPerplexity: Input should be greater than or equal to 1"),
    (finetune("lora").set("spec.gate", {"exactMatch": {"minAccuracy": 1.5}}),
     "spec.gate.exactMatch.minAccuracy: Input should be less than or equal to 1"),
    (finetune("lora").set("spec.gate", {"exactMatch": {"minAccuracy": 0.5, "dataset": {"uri": "builtin://chat-mini"}}}),
     "spec.gate.exactMatch.dataset.format: exact match needs prompts with reference answers (format verifiable"),
    (finetune("lora").set("spec.gate", {"exactMatch": {}}), "spec.gate.exactMatch.minAccuracy: required field is missing"),
    (finetune("lora").set("spec.gate", {"maxEvalLoss": 0}), "spec.gate.maxEvalLoss: Input should be greater than 0"),
    (finetune("lora").set("spec.gate", {"exactMatch": {"minAccuracy": 0.5, "maxRows": 0}}),
     "spec.gate.exactMatch.maxRows: Input should be greater than or equal to 1"),
    (finetune("lora").set("spec.gate", {"exactMatch": {"minAccuracy": 0.5, "maxNewTokens": 0}}),
     "spec.gate.exactMatch.maxNewTokens: Input should be greater than or equal to 1"),
    (merge("slerp").set("spec.gate", {"maxPerplexity": 0.5}), "spec.gate.maxPerplexity: Input should be greater than or equal to 1"),
    (merge("slerp").set("spec.gate", {}), "spec.gate: a gate needs a threshold: maxPerplexity or maxPerplexityRatio"),
    (quantize("gguf").set("spec.gate", {"maxPerplexityRatio": 0.9}),
     "spec.gate.maxPerplexityRatio: Input should be greater than or equal to 1"),
    (quantize("gguf").set("spec.gate", {"minTop1Agreement": 1.5}),
     "spec.gate.minTop1Agreement: Input should be less than or equal to 1"),
    (quantize("gguf").set("spec.gate", {}),
     "spec.gate: a gate needs a threshold: maxKlDivergence, minTop1Agreement or maxPerplexityRatio"),
    (merge("slerp").set("spec.gate", {"maxPerplexity": 30, "maxTokens": 10}),
     "spec.gate.maxTokens: Input should be greater than or equal to 64"),
    (merge("linear").drop("spec.baseModel").set("spec.gate", {"maxPerplexityRatio": 1.1}),
     "spec.gate.maxPerplexityRatio: a ratio to the base model needs baseModel"),
    (merge("slerp").set("spec.gate", {"maxPerplexityRatio": 0.9}),
     "spec.gate.maxPerplexityRatio: Input should be greater than or equal to 1"),
    (merge("slerp").set("spec.gate", {"maxPerplexity": 30, "dataset": {"uri": "builtin://chat-mini", "format": "chat"}}),
     "spec.gate.dataset.format: perplexity is measured on text (format text), got chat"),
    (quantize("gguf").set("spec.gate", {"maxKlDivergence": -1}), "spec.gate.maxKlDivergence: Input should be greater than or equal to 0"),
    (quantize("gguf").set("spec.gate", {"maxKlDivergence": 0.1}).set("spec.evaluation", {"enabled": False}),
     "spec.gate: the gate's values come from the evaluation: drop evaluation.enabled: false"),
    (quantize("gguf").set("spec.gate", {"maxKlDivergence": 0.1, "types": ["q8_0"]}),
     "spec.gate.types: q8_0 is not among gguf.types (q4_k_m)"),
    (quantize("awq").set("spec.gate", {"minTop1Agreement": 0.9, "types": ["q4_k_m"]}),
     "spec.gate.types: gate.types picks GGUF types; this method writes one output"),
    (quantize("gguf").set("spec.gate", {"maxKL": 0.1}), "spec.gate.maxKL: unknown field; known fields: maxKlDivergence, "),
]


@pytest.mark.parametrize("doc, expected", CASES, ids=[c[1][:70] for c in CASES])
def test_bad_gate_values_are_refused_with_the_field(doc, expected):
    _, issues = parse(dict(doc))
    lines = [f"{issue.path}: {issue.message}" for issue in issues]
    assert any(line.startswith(expected) for line in lines), lines


def test_good_gates_are_valid():
    good = [finetune("lora").set("spec.dataset.validationFraction", 0.1).set("spec.training", {"evalSteps": 5})
            .set("spec.gate", {"maxEvalLoss": 2, "exactMatch": {"minAccuracy": 0.5}}),
            merge("slerp").set("spec.gate", {"maxPerplexityRatio": 1.05}),
            quantize("gguf").set("spec.gate", {"maxKlDivergence": 0.05, "minTop1Agreement": 0.9, "types": ["q4_k_m"]})]
    for doc in good:
        assert parse(dict(doc))[1] == []


def test_quantize_checks_read_every_type_and_the_ratio():
    gate = parse(dict(quantize("gguf").set("spec.gguf", {"types": ["q8_0", "q2_k"]})
                      .set("spec.gate", {"maxKlDivergence": 0.1, "maxPerplexityRatio": 1.2})))[0].spec.gate
    metrics = {"reference": {"perplexity": 10.0},
               "quality": [{"type": "q8_0", "klDivergence": 0.001, "perplexity": 10.1},
                           {"type": "q2_k", "klDivergence": 0.2, "perplexity": 13.0}]}
    checks = quantize_checks(gate, metrics)
    assert [(c["subject"], c["threshold"], c["passed"]) for c in checks] == [
        ("q8_0", "maxKlDivergence", True), ("q8_0", "maxPerplexityRatio", True),
        ("q2_k", "maxKlDivergence", False), ("q2_k", "maxPerplexityRatio", False)]
    assert checks[3]["value"] == pytest.approx(1.3)
    assert describe(checks) == ("q2_k: klDivergence 0.2 is above gate.maxKlDivergence 0.1; "
                                "q2_k: perplexityRatio 1.3 is above gate.maxPerplexityRatio 1.2")


def test_a_value_that_was_not_measured_fails_its_check():
    missing = check("minTop1Agreement", 0.9, "top1Agreement", None, "q4_k_m")
    assert not missing["passed"] and not check("maxEvalLoss", 1.0, "evalLoss", float("nan"))["passed"]
    assert describe([missing]) == "q4_k_m: top1Agreement was not measured (gate.minTop1Agreement 0.9)"


GATE = {"passed": False, "message": "gate failed: q2_k: klDivergence 0.2 is above gate.maxKlDivergence 0.1",
        "checks": [{"threshold": "maxKlDivergence", "limit": 0.1, "measured": "klDivergence", "value": 0.2,
                    "passed": False, "subject": "q2_k"}]}


def test_a_job_failed_by_its_gate_is_gate_failed_with_the_values():
    line = '::tuneforge::result {"uri": "pvc://out/ns/q", "files": 3, "gate": ' + __import__("json").dumps(GATE) + "}"
    pod = {"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 3, "message": line}}}]}}
    job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]}}
    seen = status.observe(job, pod)
    assert (seen["phase"], seen["reason"]) == ("Failed", "GateFailed")
    assert seen["message"] == GATE["message"] and seen["result"]["gate"]["checks"][0]["value"] == 0.2


def test_nothing_starts_from_a_job_that_missed_its_gate():
    upstream = {"status": {"phase": "Failed", "message": GATE["message"],
                           "conditions": [{"type": "Failed", "status": "True", "reason": "GateFailed"}]}}
    body = dict(quantize(name="after").set("spec.model", {"fromJob": {"kind": "FineTuneJob", "name": "ft"}}))
    body["metadata"]["namespace"] = "ns"
    res = chaining.worker_spec(body, lambda kind, name: upstream, Settings(default_output_claim="out"))
    assert res.spec is None and res.gated
    assert res.failed == [f"FineTuneJob/ft did not pass its gate, so nothing starts from its output: {GATE['message']}"]


@pytest.mark.parametrize("said, answer, right", [
    ("7 * 4 = 28.", "28", True), ("23 - 20 = 11.", "3", False), ("The capital of Kenya is Nairobi.", "Nairobi", True),
    ("Nairobi is not it; it is Mombasa", "Nairobi", False), ("So the answer is 1,200", "1200", True)])
def test_an_answer_is_right_as_grpo_rewards_judge_it(said, answer, right):
    from tuneforge.backends.gate_measures import correct

    assert correct(said, answer) is right
