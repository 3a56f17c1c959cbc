"""Backends: one package per backend, each with a pure `plan` and a heavy `run`.

The registry maps (kind, method) to a backend name; the name is also the image key in the chart.
Adding a backend is one folder here and one entry below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ..api.resource import Resource
from .worker_plan import WorkerPlan, default_plan


@dataclass(frozen=True)
class Backend:
    name: str
    kind: str
    methods: tuple[str, ...]
    package: str

    def worker_plan(self, resource: Resource) -> WorkerPlan:
        """The backend's own pure plan, or the default (one process) while it has none."""
        try:
            module = importlib.import_module(f"{__name__}.{self.package}.plan")
        except ModuleNotFoundError:
            return default_plan(self.name, resource.spec.resources.gpus)
        return module.plan(resource.spec)

    def run(self) -> ModuleType:
        module = f"{__name__}.{self.package}.run"
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                raise NotImplementedError(f"the {self.name} backend is not part of this version yet") from exc
            raise


REGISTRY: tuple[Backend, ...] = (
    Backend("finetune", "FineTuneJob", ("full", "lora", "qlora", "dpo"), "finetune"),
    Backend("mergekit", "MergeJob", (), "mergekit"),  # every mergekit method
    Backend("gguf", "QuantizeJob", ("gguf",), "gguf"),
    Backend("awq", "QuantizeJob", ("awq", "gptq"), "awq"),
    Backend("exl2", "QuantizeJob", ("exl2", "exl3"), "exl2"),
)


def backend_for(resource: Resource) -> Backend:
    kind, method = resource.kind, resource.spec.method
    for backend in REGISTRY:
        if backend.kind == kind and (not backend.methods or method in backend.methods):
            return backend
    raise LookupError(f"no backend for {kind} method {method}")
