"""Backends: one package per backend, each declaring its `BACKEND` (backends/base.py) beside a pure
`plan` and a heavy `run`. Adding a backend is one package here; the registry finds it, and a broken
import is an error, never a silently missing backend."""

from __future__ import annotations

import importlib
import pkgutil

from ..api.resource import Resource
from .base import Backend


def _discover() -> tuple[Backend, ...]:
    found = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.ispkg:
            backend = getattr(importlib.import_module(f"{__name__}.{module.name}"), "BACKEND", None)
            if backend is not None:
                found.append(backend)
    return tuple(found)


REGISTRY: list[Backend] = list(_discover())


def images() -> tuple[str, ...]:
    """Every worker image a registered backend may run in, each once."""
    return tuple(dict.fromkeys(name for backend in REGISTRY for name in backend.image_names()))


def backend_for(resource: Resource) -> Backend:
    kind, method = resource.kind, resource.spec.method
    for backend in REGISTRY:
        if backend.kind == kind and method in backend.methods:
            return backend
    raise LookupError(f"no backend for {kind} method {method}")
