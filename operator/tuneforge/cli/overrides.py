"""`--set path=value` overrides applied to manifest documents before validation."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..api.manifest import KubeLoader

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class OverrideError(ValueError):
    pass


def parse_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    for match in _PART.finditer(path):
        if match.start() != pos and path[pos:match.start()] != ".":
            raise OverrideError(f"--set {path}: cannot parse the path near '{path[pos:]}'")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    if not parts or pos != len(path):
        raise OverrideError(f"--set {path}: cannot parse the path")
    return parts


def apply(doc: dict[str, Any], assignment: str) -> None:
    """Set one `a.b[0].c=value` (value read as YAML: numbers, booleans, lists) in place."""
    path, sep, text = assignment.partition("=")
    if not sep:
        raise OverrideError(f"--set {assignment}: expected path=value")
    parts = parse_path(path.strip())
    # Read as the manifest itself is read (Kubernetes' YAML: 5e-5 is a number, a date stays a string).
    value = yaml.load(text, Loader=KubeLoader) if text.strip() else ""
    node: Any = doc
    for here, nxt in zip(parts, parts[1:]):
        if isinstance(here, int):
            if not isinstance(node, list) or here >= len(node):
                raise OverrideError(f"--set {path}: index [{here}] does not exist")
            node = node[here]
            continue
        if not isinstance(node, dict):
            raise OverrideError(f"--set {path}: '{here}' is inside a value that is not a mapping")
        if here not in node or node[here] is None:
            node[here] = [] if isinstance(nxt, int) else {}
        node = node[here]
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise OverrideError(f"--set {path}: index [{last}] does not exist")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise OverrideError(f"--set {path}: '{last}' is inside a value that is not a mapping")
