"""The CRDs on a real API server: established, explained, listed by category; every example accepted
by server-side dry run; bad manifests refused by the server itself (schema, CEL, strict field
validation) with the field named, and by `tuneforge validate` with the same field."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml"))
API = "tuneforge.io/v1alpha1"


def test_kubectl_explain_shows_the_field_descriptions(crds):
    out = crds.kubectl("explain", "finetunejob.spec.lora", check=True).stdout
    assert "LoRA adapter settings (peft)." in out
    assert "Rank of the update matrices." in out and "Scaling numerator" in out


def test_the_tuneforge_category_lists_all_three_kinds(crds):
    proc = crds.kubectl("get", "tuneforge", "-A", check=True)
    assert "No resources found" in proc.stderr
    names = {r["spec"]["names"]["kind"]: r["spec"]["names"] for r in crds.json("get", "crd")["items"]
             if r["spec"]["group"] == "tuneforge.io"}
    assert set(names) == {"FineTuneJob", "MergeJob", "QuantizeJob"}
    assert all("tuneforge" in n["categories"] for n in names.values())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_server_side_dry_run(crds, example):
    proc = crds.kubectl("apply", "--dry-run=server", "--validate=strict", "-n", "default", "-f", str(example))
    assert proc.returncode == 0, proc.stderr
    assert "(server dry run)" in proc.stdout


def base(kind: str) -> dict:
    spec = {
        "FineTuneJob": {"method": "lora", "model": {"uri": "builtin://smollm2-135m-instruct"},
                        "dataset": {"uri": "builtin://chat-mini", "format": "chat"}},
        "MergeJob": {"method": "slerp", "baseModel": {"uri": "hf://a/b"},
                     "models": [{"model": {"uri": "hf://a/b"}}, {"model": {"uri": "hf://c/d"}}], "parameters": {"t": 0.5}},
        "QuantizeJob": {"method": "gguf", "model": {"uri": "builtin://smollm2-135m-instruct"}, "gguf": {"types": ["q4_k_m"]}},
    }[kind]
    return {"apiVersion": API, "kind": kind, "metadata": {"name": "bad"}, "spec": copy.deepcopy(spec)}


def setting(kind: str, path: str, value) -> dict:
    doc = base(kind)
    node = doc
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return doc


def mixed(method: str, datasets: list) -> dict:
    doc = setting("FineTuneJob", "spec.method", method)
    del doc["spec"]["dataset"]
    doc["spec"]["datasets"] = datasets
    return doc


# (kind, field path the user must be pointed at, the change that breaks it)
BAD = [
    ("FineTuneJob", "spec.method", setting("FineTuneJob", "spec.method", "sft")),
    ("FineTuneJob", "spec.lorra", setting("FineTuneJob", "spec.lorra", {"r": 8})),
    ("FineTuneJob", "spec.lora.r", setting("FineTuneJob", "spec.lora.r", 0)),
    ("FineTuneJob", "spec.lora.r", setting("FineTuneJob", "spec.lora.r", "8")),
    ("FineTuneJob", "spec.lora.dropout", setting("FineTuneJob", "spec.lora.dropout", 1.5)),
    ("FineTuneJob", "spec.lora.targetModules", setting("FineTuneJob", "spec.lora.targetModules", [])),
    ("FineTuneJob", "spec.lora.bias", setting("FineTuneJob", "spec.lora.bias", "some")),
    ("FineTuneJob", "spec.quantization", setting("FineTuneJob", "spec.method", "qlora")),
    ("FineTuneJob", "spec.training.learningRate", setting("FineTuneJob", "spec.training.learningRate", "fast")),
    ("FineTuneJob", "spec.training.batchSize", setting("FineTuneJob", "spec.training.batchSize", 0)),
    ("FineTuneJob", "spec.dataset.format", setting("FineTuneJob", "spec.dataset.format", "csv")),
    ("FineTuneJob", "spec.model", setting("FineTuneJob", "spec.model", {})),
    ("FineTuneJob", "spec.model", setting("FineTuneJob", "spec.model", {"uri": "hf://a/b", "fromJob": {"kind": "FineTuneJob", "name": "x"}})),
    ("FineTuneJob", "spec.dataset", setting("FineTuneJob", "spec.dataset", None)),
    ("FineTuneJob", "spec.resources.gpus", setting("FineTuneJob", "spec.resources.gpus", -1)),
    ("FineTuneJob", "spec.runPolicy.backoffLimit", setting("FineTuneJob", "spec.runPolicy.backoffLimit", -1)),
    ("FineTuneJob", "spec.output.mergeAdapter", setting("FineTuneJob", "spec.output.mergeAdapter", "yes please")),
    ("FineTuneJob", "spec.dataset.format", setting("FineTuneJob", "spec.method", "kto")),
    ("FineTuneJob", "spec.dataset.format", setting("FineTuneJob", "spec.method", "grpo")),
    ("FineTuneJob", "spec.dataset.format", setting("FineTuneJob", "spec.method", "orpo")),
    ("FineTuneJob", "spec.grpo.numGenerations", setting("FineTuneJob", "spec.grpo", {"numGenerations": 1})),
    ("FineTuneJob", "spec.grpo.rewards[0].name", setting("FineTuneJob", "spec.grpo", {"rewards": [{"name": "bleu"}]})),
    ("FineTuneJob", "spec.kto.desirableWeight", setting("FineTuneJob", "spec.kto", {"desirableWeight": 0})),
    ("FineTuneJob", "spec.adapter", setting("FineTuneJob", "spec.adapter", "qlora")),
    ("MergeJob", "spec.models", setting("MergeJob", "spec.models", [{"model": {"uri": "hf://a/b"}}])),
    ("MergeJob", "spec.method", setting("MergeJob", "spec.method", "average")),
    ("MergeJob", "spec.dtype", setting("MergeJob", "spec.dtype", "int4")),
    ("QuantizeJob", "spec.method", setting("QuantizeJob", "spec.method", "q4")),
    ("QuantizeJob", "spec.gguf.types", setting("QuantizeJob", "spec.gguf.types", [])),
    ("QuantizeJob", "spec.gguf.typez", setting("QuantizeJob", "spec.gguf.typez", ["q4_k_m"])),
    ("QuantizeJob", "spec.gate.maxKlDivergence", setting("QuantizeJob", "spec.gate", {"maxKlDivergence": -1})),
    ("QuantizeJob", "spec.gate.minTop1Agreement", setting("QuantizeJob", "spec.gate", {"minTop1Agreement": 1.5})),
    ("QuantizeJob", "spec.gate.maxKL", setting("QuantizeJob", "spec.gate", {"maxKL": 0.1})),
    ("FineTuneJob", "spec.gate.exactMatch.minAccuracy", setting("FineTuneJob", "spec.gate", {"exactMatch": {"minAccuracy": 2}})),
    ("MergeJob", "spec.gate.maxPerplexityRatio", setting("MergeJob", "spec.gate", {"maxPerplexityRatio": 0.5})),
    ("FineTuneJob", "spec.datasets", setting("FineTuneJob", "spec.datasets", [{"uri": "builtin://chat-mini", "format": "chat"}])),
    ("FineTuneJob", "spec.datasets", mixed("dpo", [{"uri": "builtin://alpaca-mini", "format": "alpaca"}])),
    ("FineTuneJob", "spec.datasets[1].weight", mixed("lora", [{"uri": "builtin://chat-mini", "format": "chat", "weight": 1},
                                                              {"uri": "builtin://alpaca-mini", "format": "alpaca", "weight": 0}])),
    ("FineTuneJob", "spec.datasets", mixed("lora", [])),
    ("FineTuneJob", "spec.dataset.columns.roles", setting("FineTuneJob", "spec.dataset.columns", {"roles": {"bot": "model"}})),
    ("FineTuneJob", "spec.dataset.columns.mesages", setting("FineTuneJob", "spec.dataset.columns", {"mesages": "dialog"})),
    ("FineTuneJob", "spec.dataset.format", setting("FineTuneJob", "spec.dataset.format", "oasst")),
    ("FineTuneJob", "spec.training.optimizer", setting("FineTuneJob", "spec.training.optimizer", "adam")),
    ("FineTuneJob", "spec.training.maxGradNorm", setting("FineTuneJob", "spec.training.maxGradNorm", -1)),
    ("FineTuneJob", "spec.training.lossWatchdog.threshold", setting("FineTuneJob", "spec.training.lossWatchdog", {"patience": 2})),
    ("FineTuneJob", "spec.training.lossWatchdog.patience", setting("FineTuneJob", "spec.training.lossWatchdog", {"threshold": 5, "patience": 0})),
    ("FineTuneJob", "spec.training.tf32", setting("FineTuneJob", "spec.training.tf32", "yes")),
    ("FineTuneJob", "spec.chatTemplate", setting("FineTuneJob", "spec.chatTemplate", "")),
    ("FineTuneJob", "spec.specialTokens.pad", setting("FineTuneJob", "spec.specialTokens", {"pad": ""})),
    ("FineTuneJob", "spec.specialTokens.unk", setting("FineTuneJob", "spec.specialTokens", {"unk": "<unk>"})),
    ("FineTuneJob", "spec.quantization.bits", setting("FineTuneJob", "spec.quantization", {"bits": 6})),
    ("QuantizeJob", "spec.output.insecure", setting("QuantizeJob", "spec.output", {"uri": "oci://r.example/a:b", "insecure": "yes"})),
    ("QuantizeJob", "spec.model.insecure", setting("QuantizeJob", "spec.model", {"uri": "oci://r.example/a:b", "insecure": 1})),
]


@pytest.mark.parametrize("kind, field, doc", BAD, ids=[f"{k}-{f}-{i}" for i, (k, f, _) in enumerate(BAD)])
def test_a_bad_manifest_is_refused_by_the_server_and_by_validate_with_the_same_field(crds, tmp_path, kind, field, doc):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    server = crds.kubectl("apply", "--dry-run=server", "--validate=strict", "-n", "default", "-f", str(path))
    assert server.returncode != 0, f"the API server accepted {doc['spec']}"
    assert field in server.stderr, server.stderr
    offline = subprocess.run([sys.executable, "-m", "tuneforge.cli", "validate", str(path)], capture_output=True, text=True)
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert f"{path}: {field}" in offline.stdout, (offline.stdout, server.stderr)
