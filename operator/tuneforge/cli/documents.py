"""Manifests as the commands read them: the file's documents with `--set` overrides applied."""

from __future__ import annotations

import click

from ..api.manifest import Document, parse


def apply_overrides(docs: list[Document], assignments: tuple[str, ...]) -> list[Document]:
    """Apply `--set [NAME:]path=value` to each document whose kind has that field (or to NAME only)."""
    from .. import api
    from ..api.manifest import schema_node
    from .overrides import OverrideError, apply, parse_path

    if not assignments:
        return docs
    used = {a: False for a in assignments}
    out = []
    for doc in docs:
        raw = doc.raw
        if not isinstance(raw, dict):
            out.append(doc)
            continue
        kind = api.KINDS.get(raw.get("kind"))
        name = (raw.get("metadata") or {}).get("name")
        try:
            for assignment in assignments:
                target, sep, rest = assignment.partition(":")
                if sep and "=" not in target:
                    if target != name:
                        continue
                    assignment = rest
                elif kind is not None and schema_node(kind.model_json_schema(), tuple(parse_path(assignment.partition("=")[0].strip()))) is None:
                    continue
                apply(raw, assignment)
                used[assignment if not sep or "=" in target else f"{target}:{assignment}"] = True
        except OverrideError as exc:
            raise click.UsageError(str(exc)) from exc
        resource, issues = parse(raw)
        out.append(Document(doc.source, doc.index, doc.of, raw, resource, issues))
    unused = [a for a, hit in used.items() if not hit]
    if unused:
        raise click.UsageError(f"--set {unused[0]}: no document in the file has that field (or that name)")
    return out
