"""Pure input resolution: `fromJob` sources become the upstream job's output URI, and an unset
output gets the operator's default location. The result is the worker spec the Job mounts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .settings import Settings

Lookup = Callable[[str, str], dict[str, Any] | None]  # (kind, name) -> the upstream object or None


@dataclass
class Resolution:
    spec: dict[str, Any] | None = None
    waiting: list[str] = field(default_factory=list)   # upstream jobs not finished yet
    failed: list[str] = field(default_factory=list)    # upstream jobs that cannot deliver
    gated: bool = False                                 # ... among them one whose output missed its gate
    missing: list[str] = field(default_factory=list)   # upstream jobs that do not exist


def _gate_failed(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Failed" and c.get("reason") == "GateFailed" for c in status.get("conditions") or [])


def _visit(node: Any, lookup: Lookup, res: Resolution) -> None:
    if isinstance(node, dict):
        ref = node.get("fromJob")
        if isinstance(ref, dict):
            key = f"{ref.get('kind')}/{ref.get('name')}"
            upstream = lookup(ref.get("kind"), ref.get("name"))
            status = (upstream or {}).get("status") or {}
            uri = (status.get("output") or {}).get("uri")
            if upstream is None:
                res.missing.append(key)
            elif status.get("phase") == "Failed" and _gate_failed(status):
                res.gated = True
                res.failed.append(f"{key} did not pass its gate, so nothing starts from its output: "
                                  f"{status.get('message') or 'gate failed'}")
            elif status.get("phase") == "Failed":
                res.failed.append(f"{key} failed: {status.get('message') or 'no reason given'}")
            elif status.get("phase") == "Succeeded" and uri:
                node.pop("fromJob")
                node["uri"] = uri
            elif status.get("phase") == "Succeeded":
                res.failed.append(f"{key} succeeded but recorded no output location")
            else:
                res.waiting.append(key)
        for value in node.values():
            _visit(value, lookup, res)
    elif isinstance(node, list):
        for value in node:
            _visit(value, lookup, res)


def worker_spec(body: dict[str, Any], lookup: Lookup, settings: Settings) -> Resolution:
    """The resource as its worker will read it, or why it cannot be built yet."""
    meta = body.get("metadata") or {}
    doc = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
        "spec": copy.deepcopy(body.get("spec") or {}),
    }
    res = Resolution()
    _visit(doc["spec"], lookup, res)
    output = doc["spec"].setdefault("output", {})
    if not output.get("uri"):
        if settings.default_output_claim is None:
            res.failed.append("spec.output.uri: set where the result goes (pvc://, s3:// or hf://); "
                              "this operator has no default output volume")
        else:
            output["uri"] = f"pvc://{settings.default_output_claim}/{meta.get('namespace')}/{meta.get('name')}"
    if not (res.waiting or res.failed or res.missing):
        res.spec = doc
    return res
