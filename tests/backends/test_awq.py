"""Real AWQ and GPTQ with llm-compressor on CPU (built-in model, a few calibration samples)."""

import json

import pytest
from support.builders import quantize
from support.run import run_doc

from tuneforge.worker import record
from tuneforge.backends.sampling import sample

pytestmark = pytest.mark.slow


def quantize_job(tmp_path, method, settings):
    doc = (quantize(method, name=method).set(f"spec.{method}", settings)
           .set("spec.evaluation", {"maxTokens": 1024}).set("spec.output", {"sample": "on"}))
    return run_doc(tmp_path, doc, method)[0]


@pytest.mark.parametrize("method", ["awq", "gptq"])
def test_llm_compressor_on_cpu_reloads_and_generates(tmp_path, method):
    # Hidden size 576 is not a multiple of 128: group size 64 fits this model.
    out = quantize_job(tmp_path, method, {"groupSize": 64, "numSamples": 8, "maxSequenceLength": 128})
    rec = record.read(out)
    assert record.mismatches(out) == []
    config = json.loads((out / "model" / "config.json").read_text())
    quant = config["quantization_config"]
    assert quant["quant_method"] == "compressed-tensors"
    weights = quant["config_groups"]["group_0"]["weights"]
    assert weights["num_bits"] == 4 and weights["group_size"] == 64
    assert "lm_head" in quant["ignore"]
    row = rec["metrics"]["quality"][0]
    reference = rec["metrics"]["reference"]
    # 4-bit weights: smaller than the fp32 original, close to it but not identical.
    assert row["bitsPerWeight"] < 16
    assert 0 < row["klDivergence"] < 1 and 0.5 < row["top1Agreement"] < 1
    assert row["perplexity"] > reference["perplexity"] * 0.95
    assert (out / "quality.png").exists()
    # Reloaded here with transformers (compressed-tensors), independently of the worker.
    assert sample(out / "model").strip()
