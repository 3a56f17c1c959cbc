"""spec.gate through the operator, on the real API server with real worker pods: the example pipeline
whose fine-tune passes and whose quantization misses its KL gate, and a fine-tune whose missed gate
keeps its fromJob consumer from ever starting."""

from __future__ import annotations

import json

import pytest
import yaml
from support.builders import quantize
from support.clusterkit import describe, finetune, kustomized, replace, restricted_namespace

pytestmark = pytest.mark.slow

FAST = [replace("FineTuneJob", "gated", "/spec/training", {"maxSteps": 6, "evalSteps": 3, "maxLength": 128,
                                                             "batchSize": 4, "learningRate": 1.0e-3}),
        replace("FineTuneJob", "gated", "/spec/gate/exactMatch/maxRows", 8),
        replace("QuantizeJob", "gated-gguf", "/spec/evaluation", {"maxTokens": 512})]


def reasons(operator, ns: str) -> set[tuple[str, str, str]]:
    events = json.loads(operator.kubectl("get", "events", "-n", ns, "-o", "json", check=True).stdout)["items"]
    return {(e["involvedObject"]["kind"], e["reason"], e["message"]) for e in events}


def test_the_example_pipeline_ends_gate_failed_at_its_quantization(operator, tmp_path):
    ns = restricted_namespace(operator, "gates")
    operator.kubectl("apply", "-k", str(kustomized(tmp_path, ns, FAST, "gated-pipeline.yaml")), check=True)
    wait = operator.kubectl("wait", "-n", ns, "--for=condition=Failed", "--timeout=900s", "qj/gated-gguf", timeout=960)
    assert wait.returncode == 0, wait.stderr + describe(operator, ns)

    tuned = operator.json("get", "ftj", "gated", "-n", ns)["status"]
    assert tuned["phase"] == "Succeeded" and tuned["output"]["gate"]["passed"], tuned
    status = operator.json("get", "qj", "gated-gguf", "-n", ns)["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (status["phase"], failed["status"], failed["reason"]) == ("Failed", "True", "GateFailed"), status
    kl = next(c for c in status["output"]["gate"]["checks"] if c["threshold"] == "maxKlDivergence" and not c["passed"])
    assert kl["subject"] == "q2_k" and kl["limit"] == 0.1 and kl["value"] > 0.1
    assert f"q2_k: klDivergence {kl['value']:g} is above gate.maxKlDivergence 0.1" in status["message"]
    assert status["output"]["uri"] == f"pvc://outputs/{ns}/gated-gguf", "the output is kept"
    assert ("QuantizeJob", "GateFailed", status["message"]) in reasons(operator, ns)


def test_a_missed_fine_tune_gate_keeps_its_consumer_from_starting(operator):
    ns = restricted_namespace(operator, "gated-chain")
    doc = finetune("strict", dataset={"uri": "builtin://chat-mini", "format": "chat", "validationFraction": 0.2},
                   gate={"maxEvalLoss": 0.01})
    doc["spec"]["training"]["evalSteps"] = 2
    downstream = quantize(name="after").set("spec.model", {"fromJob": {"kind": "FineTuneJob", "name": "strict"}})
    operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all([downstream, doc]), check=True)
    wait = operator.kubectl("wait", "-n", ns, "--for=condition=Failed", "--timeout=600s", "ftj/strict", "qj/after",
                            timeout=660)
    assert wait.returncode == 0, wait.stderr + describe(operator, ns)
    strict = operator.json("get", "ftj", "strict", "-n", ns)["status"]
    assert strict["message"].startswith("gate failed: evalLoss ") and "is above gate.maxEvalLoss 0.01" in strict["message"]
    after = operator.json("get", "qj", "after", "-n", ns)["status"]
    assert next(c for c in after["conditions"] if c["type"] == "Failed")["reason"] == "UpstreamGateFailed"
    assert after["message"] == ("FineTuneJob/strict did not pass its gate, so nothing starts from its output: "
                                + strict["message"])
    assert [j["metadata"]["name"] for j in operator.json("get", "jobs", "-n", ns)["items"]] == ["strict-ftj"]
    assert ("QuantizeJob", "UpstreamGateFailed", after["message"]) in reasons(operator, ns)
