"""spec.gate for real: the example pipeline whose fine-tune passes and whose quantization misses its KL
gate stops there, keeping the output; a merge gated on perplexity against its base."""

import math

import pytest
import yaml
from support.run import tuneforge

from tuneforge.contract import EXIT_GATE_FAILED
from tuneforge.worker import record
from tuneforge.worker.__main__ import main as worker

pytestmark = pytest.mark.slow


def test_the_gated_pipeline_stops_at_the_missed_kl_gate(root, tmp_path):
    out = tmp_path / "out"
    proc = tuneforge("run", str(root / "examples" / "gated-pipeline.yaml"), "--output", str(out),
                     "--set", "gated:spec.training.maxSteps=6", "--set", "gated:spec.training.evalSteps=3",
                     "--set", "gated:spec.training.maxLength=128", "--set", "gated:spec.gate.exactMatch.maxRows=8",
                     "--set", "gated-gguf:spec.evaluation.maxTokens=512", timeout=1200)
    assert proc.returncode == EXIT_GATE_FAILED, proc.stderr[-3000:]
    tuned = record.read(out / "gated")["metrics"]
    assert tuned["gate"]["passed"], tuned["gate"]
    checks = {c["threshold"]: c for c in tuned["gate"]["checks"]}
    assert checks["maxPerplexity"]["value"] == pytest.approx(math.exp(tuned["evalLoss"]), rel=1e-5)
    answers = tuned["exactMatch"]["answers"]
    assert len(answers) == 8 and checks["exactMatch.minAccuracy"]["value"] == sum(a["correct"] for a in answers) / 8
    assert "gate: passed (perplexity" in proc.stdout

    quantized = record.read(out / "gated-gguf")
    gate, rows = quantized["metrics"]["gate"], {r["type"]: r for r in quantized["metrics"]["quality"]}
    assert not gate["passed"]
    missed = [c for c in gate["checks"] if not c["passed"]]
    assert {c["subject"] for c in missed} == {"q2_k"}, gate  # q4_k_m passes the same thresholds
    kl = next(c for c in missed if c["threshold"] == "maxKlDivergence")
    assert kl["value"] == pytest.approx(rows["q2_k"]["klDivergence"]) and kl["value"] > 0.1
    assert f"QuantizeJob/gated-gguf: GateFailed: q2_k: klDivergence {kl['value']:g} is above gate.maxKlDivergence 0.1" in proc.stderr
    assert f"kept, marked as not passed: {out / 'gated-gguf'}" in proc.stderr
    assert (out / "gated-gguf" / rows["q2_k"]["file"]).is_file() and record.mismatches(out / "gated-gguf") == []


def test_a_merge_gated_against_its_base(tmp_path):
    base = {"uri": "builtin://smollm2-135m-instruct"}
    doc = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "MergeJob", "metadata": {"name": "same"},
           "spec": {"method": "linear", "baseModel": base, "models": [{"model": base, "parameters": {"weight": 1.0}}],
                    "dtype": "float32", "output": {"sample": "off"},
                    "gate": {"maxPerplexity": 1.5, "maxPerplexityRatio": 1.0, "maxTokens": 1024}}}
    path = tmp_path / "merge.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert worker(["--spec", str(path), "--output", str(tmp_path / "out")]) == EXIT_GATE_FAILED
    gate = record.read(tmp_path / "out")["metrics"]["gate"]
    checks = {c["threshold"]: c for c in gate["checks"]}
    # The merge of a model with itself is that model: as perplexing as its base, exactly.
    assert checks["maxPerplexityRatio"] == {"threshold": "maxPerplexityRatio", "limit": 1.0, "measured": "perplexityRatio",
                                            "value": 1.0, "passed": True}
    assert not checks["maxPerplexity"]["passed"] and checks["maxPerplexity"]["value"] > 1.5
    assert gate["message"].startswith(f"gate failed: perplexity {checks['maxPerplexity']['value']:g} is above")
