"""Real merges with mergekit on CPU: the built-in model and deterministic perturbations of it."""

import pytest
import torch
import yaml
from support.run import tuneforge
from support.variants import perturbed_copies
from safetensors.torch import load_file

from tuneforge.worker import record

pytestmark = pytest.mark.slow
BUILTIN = {"uri": "builtin://smollm2-135m-instruct"}


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """Two models of the built-in's architecture: its weights plus small seeded noise."""
    base, copies = perturbed_copies(tmp_path_factory.mktemp("variants"), (1, 2))
    return base, [{"uri": f"file://{c}"} for c in copies]


def merge(tmp_path, spec):
    doc = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "MergeJob", "metadata": {"name": "m"},
           "spec": {"dtype": "float32", **spec}}
    path = tmp_path / "merge.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    proc = tuneforge("run", str(path), "--output", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + (tmp_path / "out.log").read_text()[-3000:]
    return out, proc


def specs(variants):
    _, (a, b) = variants
    return {
        "slerp": {"baseModel": BUILTIN, "models": [{"model": BUILTIN}, {"model": a}], "parameters": {"t": [0, 0.5, 1]}},
        "linear": {"models": [{"model": BUILTIN, "parameters": {"weight": 0.5}}, {"model": a, "parameters": {"weight": 0.5}}]},
        "task_arithmetic": {"baseModel": BUILTIN, "models": [{"model": a, "parameters": {"weight": 0.5}},
                                                             {"model": b, "parameters": {"weight": 0.5}}]},
        "ties": {"baseModel": BUILTIN, "models": [{"model": a, "parameters": {"density": 0.5, "weight": 0.5}},
                                                  {"model": b, "parameters": {"density": 0.5, "weight": 0.5}}]},
        "dare_ties": {"baseModel": BUILTIN, "models": [{"model": a, "parameters": {"density": 0.6, "weight": 0.5}},
                                                       {"model": b, "parameters": {"density": 0.6, "weight": 0.5}}]},
        "dare_linear": {"baseModel": BUILTIN, "models": [{"model": a, "parameters": {"density": 0.6, "weight": 0.5}},
                                                         {"model": b, "parameters": {"density": 0.6, "weight": 0.5}}]},
    }


@pytest.mark.parametrize("method", ["slerp", "linear", "task_arithmetic", "ties", "dare_ties", "dare_linear"])
def test_method_output_loads_and_generates(tmp_path, variants, method):
    out, proc = merge(tmp_path, {"method": method, **specs(variants)[method]})
    rec = record.read(out)
    assert record.mismatches(out) == []
    assert rec["artifacts"] == {"model": "model", "mergekitConfig": "mergekit_config.yml"}
    assert yaml.safe_load((out / "mergekit_config.yml").read_text())["merge_method"] == method
    assert rec["metrics"]["sample"]["completion"], "the merged model generates text"
    assert rec["metrics"]["layers"] == 30
    base = load_file(variants[0] / "model.safetensors")
    merged = load_file(out / "model" / "model.safetensors")
    name = "model.layers.10.mlp.down_proj.weight"
    assert not torch.equal(merged[name], base[name]), "the merge changed the weights"


def test_passthrough_stacks_layers(tmp_path, variants):
    slices = [{"sources": [{"model": BUILTIN, "layerRange": [0, 20]}]},
              {"sources": [{"model": BUILTIN, "layerRange": [10, 30]}]}]
    out, _ = merge(tmp_path, {"method": "passthrough", "slices": slices})
    assert record.read(out)["metrics"]["layers"] == 40
    merged = load_file(out / "model" / "model.safetensors")
    base = load_file(variants[0] / "model.safetensors")
    assert torch.equal(merged["model.layers.25.self_attn.q_proj.weight"], base["model.layers.15.self_attn.q_proj.weight"])


def test_slerp_at_zero_is_the_first_model(tmp_path, variants):
    _, (a, _) = variants
    out, _ = merge(tmp_path, {"method": "slerp", "baseModel": BUILTIN, "models": [{"model": BUILTIN}, {"model": a}],
                              "parameters": {"t": 0}})
    base = load_file(variants[0] / "model.safetensors")
    merged = load_file(out / "model" / "model.safetensors")
    assert set(merged) == set(base)
    for name, tensor in base.items():
        assert torch.equal(merged[name], tensor), name


def test_mismatched_models_are_refused_before_loading(tmp_path, variants):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(variants[0])
    config.num_hidden_layers = 4
    small = tmp_path / "small"
    AutoModelForCausalLM.from_config(config).save_pretrained(small)
    doc = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "MergeJob", "metadata": {"name": "m"},
           "spec": {"method": "ties", "baseModel": BUILTIN,
                    "models": [{"model": {"uri": f"file://{small}"}, "parameters": {"weight": 1.0}}]}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = tuneforge("run", str(path), "--output", str(tmp_path / "out"), timeout=300)
    assert proc.returncode == 2
    assert (f"spec.models[0].model: file://{small} has num_hidden_layers 4, spec.baseModel has 30: "
            "tensors of different shapes cannot be merged") in proc.stderr


def test_fine_tune_then_merge_back_in_one_file(root, tmp_path):
    out = tmp_path / "out"
    proc = tuneforge("run", str(root / "examples" / "finetune-then-merge.yaml"), "--output", str(out),
                     "--set", "spec.training.maxSteps=3", "--set", "spec.training.maxLength=64", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tuned, folded = record.read(out / "smol-tuned"), record.read(out / "smol-folded")
    assert tuned["kind"] == "FineTuneJob" and folded["kind"] == "MergeJob"
    # The MergeJob's fromJob input is the fine-tune's merged model, resolved from its record.
    assert {"path": str(out / "smol-tuned" / "merged")} in folded["inputs"].values()
    assert folded["metrics"]["sample"]["completion"]
    assert proc.stdout.index("FineTuneJob/smol-tuned: done") < proc.stdout.index("MergeJob/smol-folded: done")
