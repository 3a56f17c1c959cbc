"""What each mergekit method takes as parameters, so that validation refuses what mergekit would
(a missing weight, a misspelt name, density +/- epsilon outside (0, 1)) before anything is loaded.

mergekit 0.1.5 publishes each method's parameters (name, scope, type, default); a unit test compares
this table with its registry. Scopes: `shared` is one value for the whole merge (spec.parameters),
`input` is per model, `non_base` per model other than the base; per-model values may also be given
once under spec.parameters, which mergekit reads as every model's default.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

from .base import Issue

# The spec arrives as tuneforge.api.merge.MergeSpec, which imports this module (typed Any: no cycle).
MergeSpec = Any


class Parameter(NamedTuple):
    scope: Literal["shared", "input", "non_base"]
    kind: Literal["float", "bool", "int", "float_or_none"]
    required: bool = False


def _task_arithmetic(**extra: Parameter) -> dict[str, Parameter]:
    return {"int8_mask": Parameter("shared", "bool"), "normalize": Parameter("shared", "bool"),
            "rescale": Parameter("shared", "bool"), "lambda": Parameter("shared", "float"),
            "weight": Parameter("non_base", "float", True), "density": Parameter("non_base", "float"), **extra}


_BREADCRUMBS = {"gamma": Parameter("non_base", "float")}
_DELLA = {"epsilon": Parameter("non_base", "float")}

PARAMETERS: dict[str, dict[str, Parameter]] = {
    "linear": {"weight": Parameter("input", "float", True), "normalize": Parameter("shared", "bool")},
    "slerp": {"t": Parameter("shared", "float", True)},
    "nuslerp": {"weight": Parameter("non_base", "float", True), "nuslerp_row_wise": Parameter("shared", "bool"),
                "nuslerp_flatten": Parameter("shared", "bool")},
    "multislerp": {"weight": Parameter("non_base", "float", True), "normalize_weights": Parameter("shared", "bool"),
                   "eps": Parameter("shared", "float")},
    "karcher": {"max_iter": Parameter("shared", "int"), "tol": Parameter("shared", "float")},
    "task_arithmetic": _task_arithmetic(),
    "ties": _task_arithmetic(),
    "dare_ties": _task_arithmetic(),
    "dare_linear": _task_arithmetic(),
    "breadcrumbs": _task_arithmetic(**_BREADCRUMBS),
    "breadcrumbs_ties": _task_arithmetic(**_BREADCRUMBS),
    "della": _task_arithmetic(**_DELLA),
    "della_linear": _task_arithmetic(**_DELLA),
    "model_stock": {"filter_wise": Parameter("shared", "bool")},
    "sce": {"int8_mask": Parameter("shared", "bool"), "select_topk": Parameter("shared", "float")},
    "nearswap": {"t": Parameter("shared", "float", True)},
    "arcee_fusion": {},
    "ram": {"epsilon": Parameter("shared", "float")},
    "ramplus_tl": {"r": Parameter("shared", "float"), "alpha": Parameter("shared", "float"),
                   "epsilon": Parameter("shared", "float")},
    "passthrough": {"scale": Parameter("input", "float_or_none")},
}

# Defaults that validation needs to check a combination (mergekit's own).
DELLA_DEFAULTS = {"density": 1.0, "epsilon": 0.15}

HINTS = {("slerp", "t"): "the interpolation factor t (0 = base model, 1 = the other)",
         ("nearswap", "t"): "the similarity threshold t (where the two models differ by less than t, the other "
                            "model's value is taken)"}


def _scalars(value: Any) -> Iterator[Any]:
    """The values inside a number, a gradient list, or a list of {filter, value} entries."""
    if isinstance(value, list):
        for item in value:
            yield from _scalars(item["value"] if isinstance(item, dict) and "value" in item else item)
    elif isinstance(value, dict) and "value" in value:
        yield from _scalars(value["value"])
    else:
        yield value


def _type_problem(name: str, parameter: Parameter, value: Any) -> str | None:
    for item in _scalars(value):
        if parameter.kind == "bool":
            if not isinstance(item, bool):
                return f"{name} is true or false, got {item!r}"
        elif parameter.kind == "float_or_none" and item is None:
            continue
        elif isinstance(item, bool) or not isinstance(item, int | float):
            return f"{name} must be a number, got {item!r}"
        elif parameter.kind == "int" and not float(item).is_integer():
            return f"{name} must be a whole number, got {item!r}"
    return None


def _unknown(method: str, name: str) -> str:
    takes = PARAMETERS[method]
    close = difflib.get_close_matches(name, list(takes), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    listed = ", ".join(takes) if takes else "none"
    return f"{method} takes no parameter {name!r}{hint} (it takes: {listed})"


def _check_block(method: str, path: str, block: dict[str, Any] | None, per_model: bool) -> Iterator[Issue]:
    takes = PARAMETERS[method]
    for name, value in (block or {}).items():
        parameter = takes.get(name)
        if parameter is None:
            yield Issue(f"{path}.{name}", _unknown(method, name))
            continue
        if per_model and parameter.scope == "shared":
            yield Issue(f"{path}.{name}", f"{name} is one value for the whole merge: set it under spec.parameters")
            continue
        problem = _type_problem(name, parameter, value)
        if problem:
            yield Issue(f"{path}.{name}", problem)


def problems(spec: MergeSpec) -> Iterator[Issue]:
    """Unknown names, wrong types, missing required values and impossible combinations."""
    method = spec.method
    takes = PARAMETERS[method]
    yield from _check_block(method, "parameters", spec.parameters, per_model=False)
    for i, item in enumerate(spec.models or []):
        yield from _check_block(method, f"models[{i}].parameters", item.parameters, per_model=True)
    for i, sl in enumerate(spec.slices or []):
        for j, src in enumerate(sl.sources):
            yield from _check_block(method, f"slices[{i}].sources[{j}].parameters", src.parameters, per_model=True)
    given = spec.parameters or {}
    for name, parameter in takes.items():
        if not parameter.required or name in given:
            continue
        if parameter.scope == "shared":
            yield Issue(f"parameters.{name}", f"{method} needs {HINTS.get((method, name), name)}")
            continue
        for where, params in _entries(spec, parameter.scope):
            if name not in (params or {}):
                yield Issue(f"{where}.parameters.{name}", f"{method} needs a {name} for every model: "
                            f"set {name} here, or once under spec.parameters")
    if method in ("della", "della_linear"):
        yield from _della_problems(spec)


def _entries(spec: MergeSpec, scope: str) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """The model entries a per-model parameter applies to: all, or those other than the base."""
    base = spec.base_model.describe() if spec.base_model is not None else None
    for i, item in enumerate(spec.models or []):
        if scope == "non_base" and item.model.describe() == base:
            continue
        yield f"models[{i}]", item.parameters
    for i, sl in enumerate(spec.slices or []):
        for j, src in enumerate(sl.sources):
            if scope == "non_base" and src.model.describe() == base:
                continue
            yield f"slices[{i}].sources[{j}]", src.parameters


def _della_problems(spec: MergeSpec) -> Iterator[Issue]:
    # mergekit: "Epsilon must be chosen such that density +/- epsilon is in (0, 1)", raised per tensor.
    given = spec.parameters or {}
    for where, params in _entries(spec, "non_base"):
        values = {name: (params or {}).get(name, given.get(name, default)) for name, default in DELLA_DEFAULTS.items()}
        for density in _scalars(values["density"]):
            for epsilon in _scalars(values["epsilon"]):
                if not all(isinstance(v, int | float) for v in (density, epsilon)) or not 0 < density < 1:
                    continue
                if density - epsilon <= 0 or density + epsilon >= 1:
                    field = "epsilon" if "epsilon" in (params or {}) or "epsilon" in given else "density"
                    path = f"{where}.parameters.{field}" if field in (params or {}) else f"parameters.{field}"
                    yield Issue(path,
                                f"{spec.method} keeps density +/- epsilon inside (0, 1): density {density:g} with "
                                f"epsilon {epsilon:g} gives {density - epsilon:g}..{density + epsilon:g}; "
                                "lower epsilon (default 0.15) or move density away from 0 and 1")
                    return
