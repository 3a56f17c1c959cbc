"""Pure planning for AWQ and GPTQ: recipes for llm-compressor, AutoAWQ's quant config, fit checks."""

from __future__ import annotations

from typing import Any

from ...api.base import Issue
from ...api.quantize import AwqSettings, GptqSettings, QuantizeSpec
from ..worker_plan import WorkerPlan, default_plan


def backend_name(spec: QuantizeSpec) -> str:
    """The image that runs the spec: AutoAWQ pins transformers 4.x, so it has an image of its own."""
    if spec.method == "awq" and spec.settings().engine == "autoawq":
        return "autoawq"
    return "awq"


def plan(spec: QuantizeSpec) -> WorkerPlan:
    return default_plan(backend_name(spec), spec.resources.gpus)


def weight_scheme(bits: int, group_size: int, symmetric: bool) -> dict[str, Any]:
    """compressed-tensors' weight quantization arguments (int, per group or per channel)."""
    scheme: dict[str, Any] = {"num_bits": bits, "type": "int", "symmetric": symmetric}
    if group_size == -1:
        scheme["strategy"] = "channel"
    else:
        scheme.update(strategy="group", group_size=group_size)
    return scheme


def recipe(spec: QuantizeSpec) -> list[tuple[str, dict[str, Any]]]:
    """llm-compressor modifiers as (class name, arguments), in the order they run."""
    s = spec.settings()
    groups = {"group_0": {"targets": ["Linear"], "weights": weight_scheme(
        s.bits, s.group_size, s.symmetric if isinstance(s, AwqSettings) else True)}}
    if spec.method == "awq":
        # AWQ scales salient channels (a transform); the quantization modifier then rounds the weights.
        return [("AWQModifier", {}), ("QuantizationModifier", {"config_groups": groups, "ignore": list(s.ignore)})]
    assert isinstance(s, GptqSettings)
    return [("GPTQModifier", {"config_groups": groups, "ignore": list(s.ignore), "dampening_frac": s.dampening_fraction})]


def autoawq_config(s: AwqSettings) -> dict[str, Any]:
    """AutoAWQ's quant_config for model.quantize()."""
    return {"w_bit": s.bits, "q_group_size": s.group_size, "zero_point": not s.symmetric, "version": s.version.upper()}


def fit_problems(spec: QuantizeSpec, config: dict[str, Any]) -> list[Issue]:
    """Settings the model's shapes rule out, found from config.json before any weight is loaded."""
    s = spec.settings()
    group = getattr(s, "group_size", -1)
    if group in (-1, None):
        return []
    sizes = {k: config[k] for k in ("hidden_size", "intermediate_size") if isinstance(config.get(k), int)}
    bad = {k: v for k, v in sizes.items() if v % group}
    if not bad:
        return []
    fits = [g for g in (32, 64, 128) if all(v % g == 0 for v in sizes.values())]
    hint = f"; group sizes that fit: {', '.join(map(str, fits))}" if fits else "; use -1 (per channel)"
    shown = ", ".join(f"{k} {v}" for k, v in bad.items())
    return [Issue(f"{spec.method}.groupSize", f"{group} does not divide the model's {shown}{hint}")]
