"""Pure planning for merges: a MergeJob spec -> mergekit's configuration and the worker's needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...api.merge import MergeSpec
from ...api.sources import ModelSource
from ..worker_plan import WorkerPlan, default_plan

Resolve = Callable[[ModelSource], str]


def _parameters(values: dict[str, Any] | None) -> dict[str, Any] | None:
    # mergekit takes numbers, gradient lists and [{filter, value}] lists exactly as the user wrote them.
    return dict(values) if values else None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def mergekit_config(spec: MergeSpec, resolve: Resolve) -> dict[str, Any]:
    """mergekit's YAML configuration for the spec, with every model reference resolved to a path."""
    config: dict[str, Any] = {"merge_method": spec.method, "dtype": spec.dtype}
    if spec.base_model is not None:
        config["base_model"] = resolve(spec.base_model)
    if spec.models:
        config["models"] = [
            _drop_none({"model": resolve(item.model), "parameters": _parameters(item.parameters)}) for item in spec.models
        ]
    if spec.slices:
        config["slices"] = [
            {"sources": [_drop_none({"model": resolve(src.model), "layer_range": list(src.layer_range),
                                     "parameters": _parameters(src.parameters)}) for src in sl.sources]}
            for sl in spec.slices
        ]
    if spec.parameters:
        config["parameters"] = _parameters(spec.parameters)
    if spec.out_dtype:
        config["out_dtype"] = spec.out_dtype
    if spec.tokenizer_source == "first":
        first = spec.models[0].model if spec.models else spec.slices[0].sources[0].model  # type: ignore[index]
        config["tokenizer_source"] = resolve(first)
    else:
        config["tokenizer_source"] = spec.tokenizer_source
    if spec.chat_template:
        config["chat_template"] = spec.chat_template
    return config


def parse_size(value: str) -> int:
    """mergekit's K/M/B size notation (as its CLI reads --out-shard-size) to a number."""
    scale = {"K": 10**3, "M": 10**6, "B": 10**9}.get(value[-1], 1)
    return int(float(value.rstrip("KMB")) * scale)


def merge_options(spec: MergeSpec, cuda: bool) -> dict[str, Any]:
    """Keyword arguments for mergekit's MergeOptions."""
    o = spec.options
    trust = any(m.trust_remote_code for m in spec.inputs())
    return {
        "cuda": cuda,
        "lazy_unpickle": o.lazy_loading,
        "low_cpu_memory": o.low_cpu_memory,
        "out_shard_size": parse_size(o.out_shard_size),
        "copy_tokenizer": o.copy_tokenizer,
        "trust_remote_code": trust,
        "random_seed": 42,  # DARE and DELLA drop weights at random: the same spec gives the same model
        "quiet": True,
    }


def plan(spec: MergeSpec) -> WorkerPlan:
    """Merges run on CPU unless GPUs are asked for: mergekit works out of core."""
    return default_plan("mergekit", spec.resources.gpus)
