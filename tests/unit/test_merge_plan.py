"""The pure merge plan: mergekit configuration, options, and the compatibility check."""

import json
import subprocess
import sys

import yaml
from support.builders import merge, spec_of

from tuneforge.api.base import Issue
from tuneforge.api.manifest import parse
from tuneforge.backends.mergekit import compat
from tuneforge.backends.mergekit.plan import merge_options, mergekit_config, plan



def fake_resolve(source):
    return f"/models/{source.describe().replace('://', '_').replace('/', '_')}"


def test_slerp_config_mirrors_mergekit_yaml():
    doc = merge("slerp").set("spec.parameters", {"t": [{"filter": "self_attn", "value": [0, 0.5, 1]}, {"value": 0.5}]})
    config = mergekit_config(spec_of(doc), fake_resolve)
    assert config == {
        "merge_method": "slerp",
        "dtype": "bfloat16",
        "base_model": "/models/builtin_smollm2-135m-instruct",
        "models": [{"model": "/models/builtin_smollm2-135m-instruct"}, {"model": "/models/FineTuneJob_ft"}],
        "parameters": {"t": [{"filter": "self_attn", "value": [0, 0.5, 1]}, {"value": 0.5}]},
        "tokenizer_source": "base",
    }


def test_passthrough_slices_and_first_tokenizer():
    doc = merge("passthrough").set("spec.tokenizerSource", "first").set("spec.outDtype", "float16")
    config = mergekit_config(spec_of(doc), fake_resolve)
    assert config["slices"] == [{"sources": [{"model": "/models/builtin_smollm2-135m-instruct", "layer_range": [0, 10]}]}]
    assert config["tokenizer_source"] == "/models/builtin_smollm2-135m-instruct"
    assert config["out_dtype"] == "float16"


def test_options_are_cpu_safe_and_reproducible():
    spec = spec_of(merge("dare_ties").set("spec.options", {"lowCpuMemory": True, "outShardSize": "2B"}))
    opts = merge_options(spec, cuda=False)
    assert opts["cuda"] is False and opts["low_cpu_memory"] is True and opts["out_shard_size"] == 2_000_000_000
    assert opts["trust_remote_code"] is False and opts["random_seed"] == 42
    p = plan(spec)
    assert (p.backend, p.gpus, p.env["CUDA_VISIBLE_DEVICES"]) == ("mergekit", 0, "")


def test_bad_options_and_nodes():
    _, issues = parse(dict(merge("ties").set("spec.options", {"outShardSize": "lots"})))
    assert [f"{i.path}: {i.message}" for i in issues] == ["spec.options.outShardSize: 'lots' is not a size like 5B, 500M or 2.5B"]
    _, issues = parse(dict(merge("ties").set("spec.resources", {"nodes": 2})))
    assert [f"{i.path}: {i.message}" for i in issues] == [
        "spec.resources.nodes: a merge runs in one pod (mergekit works out of core); remove resources.nodes"]


LLAMA = {"architectures": ["LlamaForCausalLM"], "hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
         "num_key_value_heads": 3, "num_hidden_layers": 30, "vocab_size": 49152}


def test_compat_names_the_mismatching_input():
    spec = spec_of(merge("ties"))
    configs = {"builtin://smollm2-135m-instruct": LLAMA, "FineTuneJob/ft": {**LLAMA, "hidden_size": 2048}}
    assert compat.problems(spec, configs) == [Issue(
        "spec.models[1].model",
        "FineTuneJob/ft has hidden_size 2048, spec.baseModel has 576: tensors of different shapes cannot be merged",
    )]
    configs["FineTuneJob/ft"] = {**LLAMA, "architectures": ["MistralForCausalLM"]}
    assert "different architectures cannot be merged" in compat.problems(spec, configs)[0].message


def test_compat_lets_passthrough_change_depth_but_checks_ranges():
    spec = spec_of(merge("passthrough").set("spec.slices", [{"sources": [{"model": {"uri": "builtin://smollm2-135m-instruct"},
                                                                          "layerRange": [20, 40]}]}]))
    assert compat.problems(spec, {"builtin://smollm2-135m-instruct": LLAMA}) == [
        Issue("spec.slices[0].sources[0].layerRange", "ends at 40 but builtin://smollm2-135m-instruct has 30 layers")]


def test_validate_rejects_mismatched_local_models(tmp_path):
    for name, hidden in (("a", 576), ("b", 1024)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({**LLAMA, "hidden_size": hidden}))
    doc = merge("linear").drop("spec.baseModel").set("spec.models", [
        {"model": {"uri": f"file://{tmp_path / 'a'}"}, "parameters": {"weight": 1}},
        {"model": {"uri": f"file://{tmp_path / 'b'}"}, "parameters": {"weight": 1}}])
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(dict(doc)))
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stdout.strip() == (f"{path}: spec.models[1].model: file://{tmp_path / 'b'} has hidden_size 1024, "
                                   f"spec.models[0].model has 576: tensors of different shapes cannot be merged")
