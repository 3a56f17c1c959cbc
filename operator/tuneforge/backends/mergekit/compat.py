"""Reject merges of models that cannot be merged, from their config.json alone (no tensors loaded)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...api.merge import MergeSpec
from ...api.base import Issue

# Shape fields that must agree for tensors to line up. Passthrough stacks layers, so the layer
# count may differ there; a union tokenizer reconciles different vocabularies.
SHAPE_FIELDS = ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "num_hidden_layers", "vocab_size")


def _places(spec: MergeSpec) -> Iterator[tuple[str, Any]]:
    if spec.base_model is not None:
        yield "spec.baseModel", spec.base_model
    for i, item in enumerate(spec.models or []):
        yield f"spec.models[{i}].model", item.model
    for i, sl in enumerate(spec.slices or []):
        for j, src in enumerate(sl.sources):
            yield f"spec.slices[{i}].sources[{j}].model", src.model


def problems(spec: MergeSpec, configs: dict[str, dict[str, Any]]) -> list[Issue]:
    """Compare each reachable input's config with the first one; `configs` maps describe() -> config."""
    skip = set()
    if spec.method == "passthrough" or spec.slices:
        skip.add("num_hidden_layers")
    if spec.tokenizer_source == "union":
        skip.add("vocab_size")
    reference: tuple[str, dict[str, Any]] | None = None
    found: list[Issue] = []
    for path, source in _places(spec):
        config = configs.get(source.describe())
        if config is None:
            continue
        if reference is None:
            reference = (path, config)
            continue
        ref_path, ref = reference
        arch, ref_arch = config.get("architectures"), ref.get("architectures")
        if arch and ref_arch and arch != ref_arch:
            found.append(Issue(path, f"{source.describe()} is {'/'.join(arch)}, {ref_path} is {'/'.join(ref_arch)}: "
                                "models of different architectures cannot be merged"))
            continue
        for name in SHAPE_FIELDS:
            if name in skip:
                continue
            if name in config and name in ref and config[name] != ref[name]:
                found.append(Issue(path, f"{source.describe()} has {name} {config[name]}, {ref_path} has {ref[name]}: "
                                    "tensors of different shapes cannot be merged"))
        if len(found) > 20:
            break
    if spec.slices:
        for i, sl in enumerate(spec.slices):
            for j, src in enumerate(sl.sources):
                config = configs.get(src.model.describe())
                layers = (config or {}).get("num_hidden_layers")
                if layers is not None and src.layer_range[1] > layers:
                    found.append(Issue(f"spec.slices[{i}].sources[{j}].layerRange",
                                  f"ends at {src.layer_range[1]} but {src.model.describe()} has {layers} layers"))
    return found
