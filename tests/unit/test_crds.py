"""Generated CRDs: no drift, structural, and carrying what kubectl users rely on."""

import subprocess
import sys

import pytest

from tuneforge.codegen import crds

RENDERED = crds.render()


def schema(kind_file: str) -> dict:
    return RENDERED[kind_file]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crds_match_the_api(root):
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli", "crds", "--check", "--root", str(root)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_crds_are_plain_yaml_without_anchors_or_aliases(root):
    import re

    import yaml

    for path in sorted((root / "crds").glob("*.yaml")):
        text = path.read_text()
        assert not re.search(r"[&*]id\d+", text), f"{path.name} has YAML anchors or aliases"
        events = yaml.parse(text)
        assert not any(isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None) for e in events), path.name


def test_check_detects_drift(tmp_path, root):
    crds.write(tmp_path)
    target = tmp_path / "charts" / "tuneforge" / "crds" / "mergejobs.tuneforge.io.yaml"
    target.write_text(target.read_text().replace("slerp", "slurp"))
    (tmp_path / "crds" / "stray.yaml").write_text("{}\n")
    found = crds.drift(tmp_path)
    assert found == [
        f"{tmp_path / 'crds' / 'stray.yaml'}: not generated from the API (remove it)",
        f"{target}: out of date (run `tuneforge crds`)",
    ]


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_schema_is_structural(name):
    assert crds.structural_problems(schema(name)) == []


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({"type": "object", "description": "d", "properties": {"a": {"$ref": "#/x", "description": "d"}}}, ".a: $ref/$defs"),
        ({"type": "object", "description": "d", "properties": {"a": {"description": "d"}}}, ".a: no type"),
        ({"type": "object", "description": "d", "additionalProperties": False, "properties": {}}, "<root>: additionalProperties: false"),
        ({"type": "object", "description": "d", "properties": {"a": {"type": "string"}}}, ".a: no description"),
        ({"type": "object", "description": "d", "properties": {"a": {"type": "object", "description": "d",
          "anyOf": [{"type": "string"}]}}}, ".a<anyOf0>: type inside anyOf/allOf/oneOf"),
        ({"type": "object", "description": "d", "title": "T", "properties": {}}, "<root>: title"),
    ],
)
def test_structural_checker_catches(bad, expected):
    assert any(p.startswith(expected) for p in crds.structural_problems(bad))


@pytest.mark.parametrize(
    "name, short, columns",
    [
        ("finetunejobs.tuneforge.io.yaml", "ftj", ["Method", "Model", "Phase", "Progress", "Loss", "ETA", "Restarts", "Age"]),
        ("quantizejobs.tuneforge.io.yaml", "qj", ["Method", "Phase", "Progress", "Age"]),
        ("mergejobs.tuneforge.io.yaml", "mj", ["Method", "Phase", "Progress", "Age"]),
    ],
)
def test_names_columns_and_status(name, short, columns):
    spec = RENDERED[name]["spec"]
    assert spec["group"] == "tuneforge.io"
    assert spec["names"]["shortNames"] == [short]
    assert spec["names"]["categories"] == ["tuneforge"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == columns


def test_descriptions_reach_kubectl_explain():
    ft = schema("finetunejobs.tuneforge.io.yaml")["properties"]["spec"]["properties"]
    assert "bitsandbytes" in ft["quantization"]["description"]
    assert ft["lora"]["properties"]["r"]["description"] == "Rank of the update matrices."


def test_cel_rules():
    ft = schema("finetunejobs.tuneforge.io.yaml")
    rules = [r["rule"] for r in ft["properties"]["spec"]["x-kubernetes-validations"]]
    assert any("qlora" in r and "bits == 4" in r for r in rules)
    source = ft["properties"]["spec"]["properties"]["model"]
    assert source["x-kubernetes-validations"][0]["rule"] == "has(self.uri) != has(self.fromJob)"
    mj = schema("mergejobs.tuneforge.io.yaml")
    mrules = [r["rule"] for r in mj["properties"]["spec"]["x-kubernetes-validations"]]
    assert "self.method != 'slerp' || (has(self.models) && size(self.models) == 2)" in mrules
    assert any("has(self.baseModel)" in r and "'ties'" in r for r in mrules)
    assert "oldSelf.spec.method" in mj["x-kubernetes-validations"][0]["rule"]


def test_defaults_stay_out_of_the_schema():
    # Defaults are applied by pydantic in the operator, not written into objects by the API server.
    text = str(RENDERED)
    assert "'default'" not in text
