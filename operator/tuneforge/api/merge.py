"""MergeJob: mergekit's merge methods, with tuneforge sources (fromJob included) for every model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal, NamedTuple

from pydantic import Field, field_validator

from .base import AnyValue, Dict, Model, Optional, Issue
from .constants import VERSION
from .gates import MergeGate
from .resource import METHOD_COLUMN, PHASE_COLUMN, PROGRESS_COLUMN, JobSpec, Resource
from .merge_parameters import problems as parameter_problems
from .sources import ModelSource


class MethodContract(NamedTuple):
    base: Literal["required", "optional", "ignored"]
    min_inputs: int
    max_inputs: int | None
    min_non_base: int | None = None
    max_non_base: int | None = None


# What mergekit 0.1.5 registers (mergekit.merge_methods.registered_methods()); inputs count the
# base model too. A test compares this table with mergekit's own registry, so it cannot drift.
MERGE_METHODS: dict[str, MethodContract] = {
    "linear": MethodContract("ignored", 1, None),
    "slerp": MethodContract("required", 2, 2),
    "nuslerp": MethodContract("optional", 1, None, 2, 2),
    "multislerp": MethodContract("optional", 1, None, 1, None),
    "karcher": MethodContract("ignored", 1, None),
    "task_arithmetic": MethodContract("required", 1, None),
    "ties": MethodContract("required", 1, None),
    "dare_ties": MethodContract("required", 1, None),
    "dare_linear": MethodContract("required", 1, None),
    "breadcrumbs": MethodContract("required", 1, None),
    "breadcrumbs_ties": MethodContract("required", 1, None),
    "della": MethodContract("required", 1, None),
    "della_linear": MethodContract("required", 1, None),
    "model_stock": MethodContract("required", 3, None),
    "sce": MethodContract("required", 1, None),
    "nearswap": MethodContract("required", 2, 2),
    "arcee_fusion": MethodContract("required", 2, 2),
    "ram": MethodContract("required", 1, None),
    "ramplus_tl": MethodContract("required", 1, None),
    "passthrough": MethodContract("ignored", 1, 1),
}
MergeMethod = Literal[tuple(MERGE_METHODS)]  # type: ignore[valid-type]

# Parameters that are fractions wherever they appear, and the range mergekit accepts.
UNIT_RANGE_PARAMETERS = ("density", "t", "epsilon", "select_topk", "gamma")


class MergeInput(Model):
    """One model of the merge, with its own parameters."""

    model: ModelSource
    """The model."""
    parameters: Optional[Dict[str, AnyValue]] = None
    """Per-model mergekit parameters (weight, density, ...): a number, a gradient list, or a list of
    {filter, value} entries for self_attn/mlp."""


class SliceSource(Model):
    """A range of layers taken from one model."""

    model: ModelSource
    """The model the layers come from."""
    layer_range: list[int] = Field(min_length=2, max_length=2)
    """[start, end) layer indices."""
    parameters: Optional[Dict[str, AnyValue]] = None
    """Parameters for this slice."""


class Slice(Model):
    """One output slice: the layers of each source merged together (passthrough: one source)."""

    sources: list[SliceSource] = Field(min_length=1)
    """The layer ranges that make up this slice."""


class MergeOptions(Model):
    """How mergekit runs."""

    lazy_loading: bool = True
    """Load tensors only when needed (keeps memory low on large models)."""
    low_cpu_memory: bool = False
    """Hold fewer tensors in memory at a time, trading speed for memory."""
    out_shard_size: str = "5B"
    """Maximum size of each output safetensors shard, mergekit style (e.g. 2B, 500M)."""

    @field_validator("out_shard_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?[KMB]?", value):
            raise ValueError(f"'{value}' is not a size like 5B, 500M or 2.5B")
        return value
    copy_tokenizer: bool = True
    """Copy the tokenizer of tokenizerSource into the output."""


class MergeSpec(JobSpec):
    """Which models to merge and how."""

    method: MergeMethod
    """A mergekit merge_method: linear, slerp, nuslerp, ties, dare_ties, dare_linear, task_arithmetic,
    breadcrumbs, della, model_stock, passthrough, ..."""
    base_model: Optional[ModelSource] = None
    """The base model: required by slerp, ties, dare_*, task_arithmetic, breadcrumbs, della, model_stock."""
    models: Optional[list[MergeInput]] = None
    """The models to merge, each with its own parameters."""
    slices: Optional[list[Slice]] = None
    """Layer slices (passthrough and frankenmerges) instead of whole models."""
    parameters: Optional[Dict[str, AnyValue]] = None
    """Global mergekit parameters (e.g. t for slerp, normalize, int8_mask)."""
    dtype: Literal["float32", "float16", "bfloat16"] = "bfloat16"
    """Dtype the merge computes in."""
    out_dtype: Optional[Literal["float32", "float16", "bfloat16"]] = None
    """Dtype of the written weights (default: dtype)."""
    tokenizer_source: Literal["base", "union", "first"] = "base"
    """Which tokenizer the merged model gets: the base model's, the union of all vocabularies, or the
    first model's."""
    chat_template: Optional[str] = None
    """A chat template name known to mergekit (e.g. chatml, auto) or a Jinja template."""
    options: MergeOptions = Field(default_factory=MergeOptions)
    """How mergekit runs."""
    gate: Optional[MergeGate] = None
    """Thresholds the merged model must meet before a fromJob consumer may start from it."""

    def inputs(self) -> list[ModelSource]:
        seen: dict[str, ModelSource] = {}
        for item in self.models or []:
            seen.setdefault(item.model.describe(), item.model)
        for sl in self.slices or []:
            for src in sl.sources:
                seen.setdefault(src.model.describe(), src.model)
        if self.base_model is not None:
            seen.setdefault(self.base_model.describe(), self.base_model)
        return list(seen.values())

    def _count_written(self, distinct: int) -> str:
        """'got N' counted as the user wrote them; where entries name the same model, which ones."""
        written = [(f"models[{i}]", item.model.describe()) for i, item in enumerate(self.models or [])]
        if self.base_model is not None:
            written.append(("baseModel", self.base_model.describe()))
        if distinct == len(written):
            return f"got {distinct}"
        first: dict[str, str] = {}
        same = []
        for where, name in written:
            if name in first:
                same.append(f"{where} is the same model as {first[name]} ({name})")
            else:
                first[name] = where
        return f"got {len(written)} entries naming {distinct} distinct model{'s' * (distinct != 1)}: {'; '.join(same)}"

    def _duplicate_inputs(self) -> Iterator[Issue]:
        """mergekit refuses a merge whose inputs name one model twice ("Duplicate merge inputs"), every
        method alike: models, and the sources of one slice (the base may also be listed in models)."""
        groups = [("models", [item.model for item in self.models or []])]
        groups += [(f"slices[{i}].sources", [src.model for src in sl.sources]) for i, sl in enumerate(self.slices or [])]
        for field, models in groups:
            first: dict[str, int] = {}
            for j, model in enumerate(models):
                name = model.describe()
                if name in first:
                    yield Issue(f"{field}[{j}].model", f"the same model as {field}[{first[name]}] ({name}): mergekit "
                                "refuses duplicate merge inputs; list each model once (its weight says how much it counts)")
                else:
                    first[name] = j

    cel_rules = (
        {"rule": "self.method != 'slerp' || (has(self.models) && size(self.models) == 2)",
         "message": "slerp takes exactly two models", "fieldPath": ".models"},
        {"rule": f"!(self.method in {sorted(n for n, c in MERGE_METHODS.items() if c.base == 'required')}) || has(self.baseModel)",
         "message": "this merge method needs a baseModel", "fieldPath": ".baseModel"},
    )

    def problems(self) -> Iterator[Issue]:
        contract = MERGE_METHODS[self.method]
        if self.models and self.slices:
            yield Issue("slices", "set models or slices, not both")
        if not self.models and not self.slices:
            yield Issue("models", f"method {self.method} needs models (or slices)")
        if self.method == "passthrough" and self.models and len(self.models) != 1:
            yield Issue("slices", "passthrough stacks layers: describe them with slices (or give exactly one model)")
        if contract.base == "required" and self.base_model is None:
            yield Issue("baseModel", f"method {self.method} needs a baseModel")
        if self.method == "slerp" and self.models is not None and len(self.models) != 2:
            yield Issue("models", f"slerp takes exactly two models, got {len(self.models)}")
        elif self.models:
            n = len(self.inputs())
            got = self._count_written(n)
            if n < contract.min_inputs:
                yield Issue("models", f"method {self.method} needs at least {contract.min_inputs} distinct models (base included), {got}")
            if contract.max_inputs is not None and n > contract.max_inputs:
                yield Issue("models", f"method {self.method} takes at most {contract.max_inputs} models (base included), {got}")
        if self.method == "slerp" and self.base_model is not None and self.models and len(self.models) == 2:
            names = [m.model.describe() for m in self.models]
            if self.base_model.describe() not in names:
                yield Issue("baseModel", "slerp interpolates between its two models: baseModel must be one of them")
        yield from self._duplicate_inputs()
        yield from self._non_base_problems(contract)
        yield from parameter_problems(self)
        if self.gate is not None:
            yield from self.gate.checked_with(self.base_model is not None)
        if self.resources.nodes > 1:
            yield Issue("resources.nodes", "a merge runs in one pod (mergekit works out of core); remove resources.nodes")
        yield from _range_problems("parameters", self.parameters)
        for i, item in enumerate(self.models or []):
            yield from _range_problems(f"models[{i}].parameters", item.parameters)
        for i, sl in enumerate(self.slices or []):
            for j, src in enumerate(sl.sources):
                start, end = src.layer_range
                if not 0 <= start < end:
                    yield Issue(f"slices[{i}].sources[{j}].layerRange", f"[{start}, {end}] is not a range: need 0 <= start < end")
            lengths = [src.layer_range[1] - src.layer_range[0] for src in sl.sources]
            if len(set(lengths)) > 1:
                yield Issue(f"slices[{i}].sources", "the sources of one slice are merged layer by layer, so they need "
                            f"the same number of layers; their layerRanges span {', '.join(map(str, lengths))}")

    def _non_base_problems(self, contract: MethodContract) -> Iterator[Issue]:
        if not self.models or (contract.min_non_base is None and contract.max_non_base is None):
            return
        base = self.base_model.describe() if self.base_model is not None else None
        others = {item.model.describe() for item in self.models} - {base}
        low, high = contract.min_non_base or 0, contract.max_non_base
        if len(others) < low or (high is not None and len(others) > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            yield Issue("models", f"method {self.method} merges {wanted} model{'s' * ((high if high is not None else low) != 1)} other than "
                        f"the baseModel, got {len(others)}")


def _numbers(value: object) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, dict) and "value" in value:
        yield from _numbers(value["value"])


def _range_problems(path: str, parameters: dict | None) -> Iterator[Issue]:
    for name, value in (parameters or {}).items():
        if name in UNIT_RANGE_PARAMETERS:
            bad = [v for v in _numbers(value) if not 0.0 <= v <= 1.0]
            if bad:
                yield Issue(f"{path}.{name}", f"{name} must be between 0 and 1, got {bad[0]:g}")
        if name == "weight":
            bad = [v for v in _numbers(value) if not -10.0 <= v <= 10.0]
            if bad:
                yield Issue(f"{path}.{name}", f"weight {bad[0]:g} is out of the sensible range -10..10")


class MergeJob(
    Resource,
    version=VERSION,
    kind="MergeJob",
    singular_name="mergejob",
    plural_name="mergejobs",
    short_names=["mj"],
    subresources={"status": {}},
    printer_columns=[
        METHOD_COLUMN,
        PHASE_COLUMN,
        PROGRESS_COLUMN,
    ],
):
    """Merges models with mergekit as a Kubernetes Job (CPU by default)."""

    spec: MergeSpec
    """Which models to merge and how."""
