"""The GPU memory estimate: the formula against known figures, and what `tuneforge validate` says."""

import json
import subprocess
import sys

import pytest
import yaml
from support.builders import finetune

from tuneforge.api.finetune import FineTuneSpec
from tuneforge.backends.finetune.memory import GIB, ModelShape, estimate, gpu_memory

LLAMA2_7B = ModelShape(hidden=4096, layers=32, heads=32, kv_heads=32, intermediate=11008, vocab=32000, tied=False)
SMOLLM2_135M = {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                "intermediate_size": 1536, "vocab_size": 49152, "tie_word_embeddings": True}


def spec(method, **training):
    doc = finetune(method).set("spec.resources", {"gpus": 1})
    doc["spec"]["training"] = {"batchSize": 2, "maxLength": 512, "gradientCheckpointing": "on", "precision": "bf16", **training}
    if method != "full":
        doc["spec"]["lora"] = {"r": 8, "alpha": 16}
    return FineTuneSpec.model_validate(doc["spec"])


def test_parameter_counts_match_the_published_sizes():
    assert round(LLAMA2_7B.params / 1e9, 2) == 6.74
    assert round(ModelShape.from_config(SMOLLM2_135M).params / 1e6) == 135


def test_published_anchor_qlora_llama2_7b_under_10_gb():
    # torchtune documents QLoRA on Llama-2-7B with activation checkpointing in under 10 GB.
    total = estimate(spec("qlora"), LLAMA2_7B).total
    assert 4 * GIB < total < 10e9


def test_full_fine_tuning_costs_about_16_bytes_per_parameter():
    est = estimate(spec("full"), LLAMA2_7B)
    assert (est.weights + est.gradients + est.optimizer) / LLAMA2_7B.params == pytest.approx(16, rel=0.01)


def test_zero3_with_offload_shards_and_moves_state():
    plain = estimate(spec("full"), LLAMA2_7B)
    doc = finetune("full").set("spec.resources", {"gpus": 8}).set("spec.deepspeed", {"stage": 3, "offloadOptimizer": True})
    doc["spec"]["training"] = {"batchSize": 2, "maxLength": 512, "gradientCheckpointing": "on", "precision": "bf16"}
    sharded = estimate(FineTuneSpec.model_validate(doc["spec"]), LLAMA2_7B)
    assert sharded.optimizer == 0 and sharded.weights == pytest.approx(plain.weights / 8)


def test_known_gpu_from_node_selector():
    doc = finetune("lora").set("spec.resources", {"gpus": 1}).set(
        "spec.scheduling", {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}})
    assert gpu_memory(FineTuneSpec.model_validate(doc["spec"])) == 40 * GIB


def validate(tmp_path, doc):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(dict(doc)))
    return subprocess.run([sys.executable, "-m", "tuneforge.cli", "validate", str(path)], capture_output=True, text=True)


def model_dir(tmp_path, config):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return f"file://{folder}"


def test_validate_fails_when_the_job_cannot_fit(tmp_path):
    llama = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "intermediate_size": 11008,
             "vocab_size": 32000}
    doc = finetune("full").set("spec.model", {"uri": model_dir(tmp_path, llama)}).set(
        "spec.resources", {"gpus": 1, "gpuMemory": "80Gi"})
    proc = validate(tmp_path, doc)
    assert proc.returncode == 1
    assert "spec.resources: needs about" in proc.stdout and "more than the 80 GiB per GPU declared" in proc.stdout
    assert "try qlora" in proc.stdout


def test_validate_passes_when_it_fits(tmp_path):
    doc = finetune("lora").set("spec.model", {"uri": model_dir(tmp_path, SMOLLM2_135M)}).set(
        "spec.resources", {"gpus": 1, "gpuMemory": "24Gi"})
    proc = validate(tmp_path, doc)
    assert proc.returncode == 0 and proc.stdout == "" and "warning" not in proc.stderr


def test_gpu_memory_must_be_a_quantity():
    from tuneforge.api.manifest import parse

    _, issues = parse(dict(finetune("lora").set("spec.resources", {"gpus": 1, "gpuMemory": "huge"})))
    assert [f"{i.path}: {i.message}" for i in issues] == [
        "spec.resources.gpuMemory: 'huge' is not a Kubernetes quantity (examples: 4, 500m, 16Gi)"]


def test_validate_names_awq_group_sizes_that_fit(tmp_path):
    from support.builders import quantize

    doc = quantize("awq").set("spec.model", {"uri": model_dir(tmp_path, SMOLLM2_135M)}).set("spec.awq", {"groupSize": 128})
    proc = validate(tmp_path, doc)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0].endswith(
        "spec.awq.groupSize: 128 does not divide the model's hidden_size 576; group sizes that fit: 32, 64")
