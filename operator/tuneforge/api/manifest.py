"""Read manifests (one or many YAML documents) into API models, collecting every problem at once.

Problems are reported as `FILE[:DOC]: field.path: message`, with camelCase field paths exactly as
the user wrote them, and without tracebacks.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .base import RULE_ERROR
from .constants import API_VERSION
from .resource import Resource, name_problems


@dataclass(frozen=True)
class Issue:
    path: str
    message: str


@dataclass
class Document:
    """One YAML document of a manifest file."""

    source: str
    index: int  # 1-based
    of: int
    raw: Any = None
    resource: Resource | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.index}" if self.of > 1 else self.source

    def lines(self) -> list[str]:
        return [f"{self.where}: {i.path}: {i.message}" if i.path else f"{self.where}: {i.message}" for i in self.issues]


def _kinds() -> dict[str, type[Resource]]:
    from . import KINDS

    return KINDS


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _join(base: str, rel: str) -> str:
    if not rel:
        return base
    if not base:
        return rel
    return f"{base}{rel}" if rel.startswith("[") else f"{base}.{rel}"


def schema_node(schema: dict[str, Any], loc: tuple[Any, ...]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for part in loc:
        if node is None:
            return None
        if isinstance(part, int):
            node = node.get("items")
        else:
            node = (node.get("properties") or {}).get(part)
    return node


def _explain(kind: type[Resource], err: dict[str, Any]) -> list[Issue]:
    loc = tuple(err["loc"])
    kind_of = err["type"]
    if kind_of == RULE_ERROR:
        return [Issue(_join(format_loc(loc), rel), msg) for rel, msg in err["ctx"]["problems"]]
    where = format_loc(loc)
    if kind_of == "extra_forbidden":
        parent = schema_node(kind.model_json_schema(), loc[:-1])
        known = sorted((parent or {}).get("properties") or {})
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(known)}"
        return [Issue(where, f"unknown field; {hint}")]
    if kind_of == "missing":
        return [Issue(where, "required field is missing")]
    message = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind_of in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping, got {type(err.get('input')).__name__}"
    return [Issue(where, message)]


def parse(raw: Any) -> tuple[Resource | None, list[Issue]]:
    """Validate one document (already loaded from YAML/JSON) into its API model."""
    if not isinstance(raw, dict):
        return None, [Issue("", f"expected a mapping (a Kubernetes object), got {type(raw).__name__}")]
    issues = []
    api_version, kind_name = raw.get("apiVersion"), raw.get("kind")
    if api_version != API_VERSION:
        got = "nothing" if api_version is None else f"'{api_version}'"
        issues.append(Issue("apiVersion", f"expected {API_VERSION}, got {got}"))
    kinds = _kinds()
    kind = kinds.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        close = difflib.get_close_matches(str(kind_name), list(kinds), n=1, cutoff=0.6) if kind_name else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        issues.append(Issue("kind", f"unknown kind '{kind_name}'; expected one of {', '.join(kinds)}{hint}"))
        return None, issues
    if not isinstance(raw.get("metadata"), dict) or not raw["metadata"].get("name"):
        issues.append(Issue("metadata.name", "required field is missing"))
        return None, issues
    # The name is checked on its own so its problems show even when the spec has others.
    issues.extend(Issue(f"metadata.{p}", m) for p, m in name_problems(str(raw["metadata"]["name"])))
    try:
        resource = kind.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            issues.extend(i for i in _explain(kind, err) if i not in issues)
        return None, issues
    return (None, issues) if issues else (resource, [])


def load_text(text: str, source: str) -> list[Document]:
    try:
        raws = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return [Document(source, 1, 1, issues=[Issue("", f"invalid YAML: {where}{problem}")])]
    if not raws:
        return [Document(source, 1, 1, issues=[Issue("", "no YAML documents in file")])]
    docs = []
    for i, raw in enumerate(raws, start=1):
        resource, issues = parse(raw)
        docs.append(Document(source, i, len(raws), raw, resource, issues))
    return docs


def load_file(path: str | Path) -> list[Document]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        return [Document(str(path), 1, 1, issues=[Issue("", f"cannot read: {exc.strerror or exc}")])]
    return load_text(text, str(path))
