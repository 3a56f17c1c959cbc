"""Render the API models into CustomResourceDefinitions, and check that the schemas are structural.

kube-custom-resource does the pydantic -> OpenAPI transforms (inline $refs, nullable instead of
anyOf-null, no titles or defaults, printer columns, short names). What it leaves, we finish here:
`additionalProperties: false` (from extra="forbid") is not allowed next to `properties`, and the
CEL rules the API server can enforce are attached to the nodes they guard.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kube_custom_resource import CustomResourceRegistry

from .. import api
from ..api.constants import CATEGORY, GROUP
from ..api.merge import MERGE_METHODS

BASE_REQUIRED = sorted(name for name, c in MERGE_METHODS.items() if c.base == "required")

SOURCE_RULE = {"rule": "has(self.uri) != has(self.fromJob)", "message": "set exactly one of uri or fromJob"}

SPEC_RULES: dict[str, list[dict[str, str]]] = {
    "FineTuneJob": [
        {
            "rule": "self.method != 'qlora' || (has(self.quantization) && self.quantization.bits == 4)",
            "message": "method qlora needs 4-bit settings: add quantization: {bits: 4}",
            "fieldPath": ".quantization",
        },
        {
            "rule": "self.method != 'dpo' || self.dataset.format == 'preference'",
            "message": "method dpo needs a preference dataset (dataset.format: preference)",
            "fieldPath": ".dataset.format",
        },
    ],
    "MergeJob": [
        {
            "rule": "self.method != 'slerp' || (has(self.models) && size(self.models) == 2)",
            "message": "slerp takes exactly two models",
            "fieldPath": ".models",
        },
        {
            "rule": f"!(self.method in {BASE_REQUIRED}) || has(self.baseModel)",
            "message": "this merge method needs a baseModel",
            "fieldPath": ".baseModel",
        },
    ],
    "QuantizeJob": [],
}


def _walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")
    for key in ("anyOf", "allOf", "oneOf"):
        for i, child in enumerate(node.get(key) or []):
            yield from _walk(child, f"{path}<{key}{i}>")


def _finish(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    for _, node in _walk(schema):
        if node.get("additionalProperties") is False:
            del node["additionalProperties"]
        # JSON Schema's numeric exclusive bounds (pydantic's gt/lt) are booleans beside maximum and
        # minimum in Kubernetes' OpenAPI v3 schema; a number there makes the API server refuse the CRD.
        for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
            if isinstance(node.get(exclusive), (int, float)) and not isinstance(node[exclusive], bool):
                node[bound] = node.pop(exclusive)
                node[exclusive] = True
        if "const" in node:  # not a field of Kubernetes' schema: the API server drops or refuses it
            node["enum"] = [node.pop("const")]
    spec = schema["properties"]["spec"]
    for path, node in _walk(spec):
        if set(node.get("properties") or {}) >= {"uri", "fromJob"}:
            node["x-kubernetes-validations"] = [SOURCE_RULE]
    if SPEC_RULES[kind]:
        spec["x-kubernetes-validations"] = SPEC_RULES[kind]
    schema["x-kubernetes-validations"] = [_immutability_rule()]
    return schema


def _immutability_rule() -> dict[str, str]:
    # Only the method is compared here: CEL equality on whole objects with unbounded strings and
    # lists risks exceeding the API server's cost budget, which would make the CRD itself invalid.
    # The operator enforces the rest (a spec changed after start is reported, never applied).
    started = "has(oldSelf.status) && has(oldSelf.status.startTime)"
    return {
        "rule": f"!({started}) || self.spec.method == oldSelf.spec.method",
        "message": "spec.method cannot change once the job has started: create a new resource",
    }


def render() -> dict[str, dict[str, Any]]:
    """CRD manifests by file name."""
    registry = CustomResourceRegistry(GROUP, [CATEGORY])
    for model in api.KINDS.values():
        registry.register_model(model)
    out = {}
    for crd in registry:
        doc = crd.kubernetes_resource()
        for version in doc["spec"]["versions"]:
            oas = version["schema"]["openAPIV3Schema"]
            version["schema"]["openAPIV3Schema"] = _finish(oas, crd.kind)
        doc["metadata"]["labels"] = {"app.kubernetes.io/part-of": "tuneforge"}
        out[f"{crd.plural_name}.{crd.api_group}.yaml"] = doc
    return out


class _PlainDumper(yaml.SafeDumper):
    """Every value written out where it is used: no `&id`/`*id` anchors and aliases for shared
    sub-schemas (people read and diff these files, and some tools mishandle aliases)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(doc: dict[str, Any]) -> str:
    header = "# Generated by `tuneforge crds` from tuneforge/api; do not edit by hand.\n"
    return header + yaml.dump(doc, Dumper=_PlainDumper, sort_keys=False, width=100)


def structural_problems(schema: dict[str, Any]) -> list[str]:
    """Why a schema would not be structural (Kubernetes rejects or prunes such CRDs)."""
    found = []
    for path, node in _walk(schema):
        where = path or "<root>"
        if "$ref" in node or "$defs" in node:
            found.append(f"{where}: $ref/$defs")
        if node.get("additionalProperties") is False:
            found.append(f"{where}: additionalProperties: false")
        if "properties" in node and "additionalProperties" in node:
            found.append(f"{where}: properties and additionalProperties together")
        in_combinator = "<" in path.rsplit(".", 1)[-1]
        if in_combinator:
            for key in ("type", "description", "default", "nullable"):
                if key in node:
                    found.append(f"{where}: {key} inside anyOf/allOf/oneOf")
        elif "type" not in node and not node.get("x-kubernetes-int-or-string") and not node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            found.append(f"{where}: no type")
        if not in_combinator and path and "description" not in node and not path.endswith("[]") and not path.endswith("}"):
            found.append(f"{where}: no description (kubectl explain shows nothing)")
        if "title" in node:
            found.append(f"{where}: title")
        for key in ("exclusiveMaximum", "exclusiveMinimum"):
            if key in node and not isinstance(node[key], bool):
                found.append(f"{where}: {key} must be a boolean beside maximum/minimum")
        if "const" in node:
            found.append(f"{where}: const (use enum)")
    return found


def targets(root: Path) -> list[Path]:
    return [root / "crds", root / "charts" / "tuneforge" / "crds"]


def write(root: Path) -> list[Path]:
    written = []
    for folder in targets(root):
        folder.mkdir(parents=True, exist_ok=True)
        for name, doc in render().items():
            path = folder / name
            path.write_text(dump(doc))
            written.append(path)
    return written


def drift(root: Path) -> list[str]:
    """Files that differ from what the API renders now."""
    found = []
    for folder in targets(root):
        expected = {name: dump(doc) for name, doc in render().items()}
        present = {p.name for p in folder.glob("*.yaml")} if folder.is_dir() else set()
        for name, text in expected.items():
            path = folder / name
            if not path.is_file() or path.read_text() != text:
                found.append(f"{path}: out of date (run `tuneforge crds`)")
        for name in sorted(present - set(expected)):
            found.append(f"{folder / name}: not generated from the API (remove it)")
    return found
