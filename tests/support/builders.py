"""Test builders: valid resources as plain dicts, changed one field at a time."""

from __future__ import annotations

import copy
from typing import Any

import yaml

API = "tuneforge.io/v1alpha1"
BUILTIN_MODEL = {"uri": "builtin://smollm2-135m-instruct"}


class Doc(dict):
    """A manifest dict with fluent edits: finetune("qlora").set("spec.lora.r", 8).drop("spec.quantization")."""

    def set(self, path: str, value: Any) -> Doc:
        node = self
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        return self

    def drop(self, path: str) -> Doc:
        node = self
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node.pop(last, None)
        return self

    def copy(self) -> Doc:
        return Doc(copy.deepcopy(dict(self)))


# Written to manifests with yaml.safe_dump as the plain mapping it is.
yaml.SafeDumper.add_representer(Doc, yaml.SafeDumper.represent_dict)


def finetune(method: str = "lora", name: str = "ft") -> Doc:
    spec: dict[str, Any] = {
        "method": method,
        "model": dict(BUILTIN_MODEL),
        "dataset": {"uri": "builtin://chat-mini", "format": "chat"},
    }
    if method == "qlora":
        spec["quantization"] = {"bits": 4}
    if method in ("dpo", "orpo", "kto"):
        spec["dataset"] = {"uri": "builtin://preference-mini", "format": "preference"}
    if method == "grpo":
        spec["dataset"] = {"uri": "builtin://answers-mini", "format": "verifiable"}
    return Doc(apiVersion=API, kind="FineTuneJob", metadata={"name": name}, spec=spec)


def merge(method: str = "slerp", name: str = "mj") -> Doc:
    spec: dict[str, Any] = {"method": method}
    other = {"fromJob": {"kind": "FineTuneJob", "name": "ft"}}
    if method == "passthrough":
        spec["slices"] = [{"sources": [{"model": dict(BUILTIN_MODEL), "layerRange": [0, 10]}]}]
    else:
        spec["baseModel"] = dict(BUILTIN_MODEL)
        spec["models"] = [{"model": dict(BUILTIN_MODEL)}, {"model": other}]
        if method not in ("slerp", "model_stock", "arcee_fusion", "nearswap", "karcher", "ram", "ramplus_tl", "sce"):
            # Methods that mergekit gives a weight per model (tuneforge.api.merge_parameters).
            spec["models"][1]["parameters"] = {"weight": 0.5}
            if method == "linear":
                spec["models"][0]["parameters"] = {"weight": 0.5}
    if method in ("nearswap", "slerp"):
        spec["parameters"] = {"t": 0.5}
    return Doc(apiVersion=API, kind="MergeJob", metadata={"name": name}, spec=spec)


def quantize(method: str = "gguf", name: str = "qj") -> Doc:
    spec: dict[str, Any] = {"method": method, "model": dict(BUILTIN_MODEL)}
    if method in ("exl2", "exl3"):
        spec["resources"] = {"gpus": 1}
    return Doc(apiVersion=API, kind="QuantizeJob", metadata={"name": name}, spec=spec)


def spec_of(doc) -> Any:
    """The parsed spec of a valid document (asserts it is valid)."""
    from tuneforge.api.manifest import parse

    res, issues = parse(dict(doc))
    assert not issues, issues
    return res.spec
