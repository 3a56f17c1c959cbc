"""What a backend is, in one declaration: its name, the kind and methods it serves, the images it runs
in, its pure plan, the checks it can make offline, and its worker module. Each backend package
declares one `BACKEND`; the registry (backends/__init__.py) collects them, and everything that lists
backends (the operator's settings, `tuneforge validate`, the local launcher) reads the registry. Files
that cannot import it (the chart's values, scripts/image-constraints.py) are held to it by tests."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..api.base import Issue
from ..api.resource import Resource
from .worker_plan import WorkerPlan

# A backend's offline checks read the inputs' config.json through this (None: not readable offline).
ConfigReader = Callable[[Any], "dict[str, Any] | None"]
OfflineCheck = Callable[[Resource, ConfigReader], Iterable[Issue]]


def no_offline_checks(resource: Resource, config: ConfigReader) -> list[Issue]:
    return []


@dataclass(frozen=True)
class Backend:
    name: str
    """The backend's name; also the key of its default worker image in the chart and the settings."""
    kind: str
    methods: tuple[str, ...]
    """The methods of `kind` it serves; each (kind, method) has exactly one backend."""
    package: str
    """The backend's package (its `run` module holds the heavy work)."""
    plan: Callable[[Any], WorkerPlan]
    """spec -> WorkerPlan: pure, no heavy imports."""
    images: tuple[str, ...] = ()
    """Every worker image its plans may choose (default: one, named after the backend)."""
    offline_checks: OfflineCheck = field(default=no_offline_checks)
    """Issues (paths from the document's root) found before any download, from the configs readable offline."""

    def image_names(self) -> tuple[str, ...]:
        return self.images or (self.name,)

    def worker_plan(self, resource: Resource) -> WorkerPlan:
        return self.plan(resource.spec)

    def run(self) -> ModuleType:
        """The heavy worker module; its libraries are in this backend's image only."""
        return importlib.import_module(f"{self.package}.run")
