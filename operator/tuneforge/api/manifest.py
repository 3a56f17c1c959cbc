"""Read manifests (one or many YAML documents) into API models, collecting every problem at once.

Problems are reported as `FILE[:DOC]: field.path: message`, with camelCase field paths exactly as
the user wrote them, and without tracebacks.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .base import RULE_ERROR, Issue
from .constants import API_VERSION
from .resource import Resource, name_problems


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
        return [issue.at(format_loc(loc)) for issue in err["ctx"]["problems"]]
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
    issues.extend(issue.at("metadata") for issue in name_problems(str(raw["metadata"]["name"])))
    try:
        # Types as the API server checks them: JSON's, strictly ("5" is not an integer, 1 is not true).
        resource = kind.model_validate_json(json.dumps(raw, default=str), strict=True)
    except ValidationError as exc:
        for err in exc.errors():
            issues.extend(i for i in _explain(kind, err) if i not in issues)
        return None, issues
    return (None, issues) if issues else (resource, [])


class KubeLoader(yaml.SafeLoader):
    """YAML as `kubectl apply` reads it: a date stays the string it is (Kubernetes' YAML-to-JSON has no
    timestamps, and the API's fields are strings), and a key written twice in one mapping is refused
    (kubectl's strict decoding) rather than silently the last one."""


KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# Kubernetes' YAML reads 1e-5 and 2E3 as numbers; PyYAML's YAML 1.1 floats need a dot (1.0e-5), so
# without this `learningRate: 1e-5` would be the string "1e-5", which the API server never sees.
KubeLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))


def duplicate_fields(node: yaml.Node, path: str = "") -> list[Issue]:
    """Every key written twice in one mapping, with its field path and both lines."""
    found = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            here = _join(path, str(name))
            if name is not None and name in seen:
                found.append(Issue(here, f"duplicate field (lines {seen[name] + 1} and {key.start_mark.line + 1}); "
                                         "kubectl apply refuses the file: write it once"))
            elif name is not None:
                seen[name] = key.start_mark.line
            found += duplicate_fields(value, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += duplicate_fields(item, f"{path}[{i}]")
    return found


def load_text(text: str, source: str) -> list[Document]:
    loader = KubeLoader(text)
    read: list[tuple[Any, list[Issue]]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            raw = loader.construct_document(node)
            if raw is not None:
                read.append((raw, duplicate_fields(node)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return [Document(source, 1, 1, issues=[Issue("", f"invalid YAML: {where}{problem}")])]
    finally:
        loader.dispose()
    if not read:
        return [Document(source, 1, 1, issues=[Issue("", "no YAML documents in file")])]
    docs = []
    for i, (raw, duplicates) in enumerate(read, start=1):
        resource, issues = parse(raw)
        issues = duplicates + issues
        docs.append(Document(source, i, len(read), raw, None if issues else resource, issues))
    return docs


def load_file(path: str | Path) -> list[Document]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        return [Document(str(path), 1, 1, issues=[Issue("", f"cannot read: {exc.strerror or exc}")])]
    return load_text(text, str(path))
