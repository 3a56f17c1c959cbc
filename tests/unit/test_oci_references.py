"""oci:// references, the fields that go with them, and the image layer (no registry needed here;
tests/backends/test_oci_registry.py pushes and pulls against a real one)."""

import gzip
import hashlib
import io
import tarfile

import pytest
from support.builders import quantize

from tuneforge.api.manifest import parse
from tuneforge.api.oci import parse as parse_ref
from tuneforge.api.sources import SecretRef


@pytest.mark.parametrize("uri, parts", [
    ("oci://127.0.0.1:5000/smol:q4km", ("127.0.0.1:5000", "smol", "q4km", None)),
    ("oci://ghcr.io/org/models/smol", ("ghcr.io", "org/models/smol", "latest", None)),
    ("oci://registry.example.com/a/b@sha256:" + "a" * 64, ("registry.example.com", "a/b", None, "sha256:" + "a" * 64)),
])
def test_references(uri, parts):
    assert tuple(parse_ref(uri)) == parts


@pytest.mark.parametrize("registry, loopback", [("127.0.0.1:5000", True), ("localhost:5000", True), ("[::1]:5000", True),
                                                ("127.0.0.2", True), ("10.0.0.1:5000", False), ("ghcr.io", False)])
def test_plain_http_is_allowed_without_asking_only_on_loopback(registry, loopback):
    assert parse_ref(f"oci://{registry}/smol:x").loopback is loopback


CASES = [
    ("oci://ghcr.io", "'oci://ghcr.io' needs a registry and a repository: oci://registry[:port]/repository[:tag]"),
    ("oci://ghcr.io/Org/Smol:x", "'oci://ghcr.io/Org/Smol:x': repository component 'Org' is not valid"),
    ("oci://ghcr.io/org/smol:bad tag", "'oci://ghcr.io/org/smol:bad tag': 'bad tag' is not a tag"),
    ("oci://ghcr.io/org/smol@sha256:abc", "'oci://ghcr.io/org/smol@sha256:abc': the digest after @ must be sha256:<64 hex digits>"),
]


@pytest.mark.parametrize("uri, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_references_are_refused_naming_the_field(uri, expected):
    _, issues = parse(dict(quantize("gguf").set("spec.model", {"uri": uri})))
    lines = [f"{i.path}: {i.message}" for i in issues]
    assert any(line.startswith(f"spec.model.uri: {expected}") for line in lines), lines


def test_fields_that_only_oci_takes():
    _, issues = parse(dict(quantize("gguf").set("spec.model", {"uri": "hf://org/m", "insecure": True})))
    assert [f"{i.path}: {i.message}" for i in issues] == ["spec.model.insecure: insecure (plain HTTP) applies to oci:// registries only"]
    _, issues = parse(dict(quantize("gguf").set("spec.output", {"uri": "oci://ghcr.io/org/smol@sha256:" + "b" * 64})))
    assert [f"{i.path}: {i.message}" for i in issues] == [
        "spec.output.uri: an output is pushed to a tag (oci://registry/repository:tag); @digest names what exists"]
    ok = quantize("gguf").set("spec.output", {"uri": "oci://registry.internal:5000/smol:q4km", "insecure": True,
                                              "secretRef": {"name": "regcred"}})
    assert parse(dict(ok))[1] == []
    # A docker-config Secret, as `kubectl create secret docker-registry` writes it.
    assert SecretRef(name="regcred").keys("oci://ghcr.io/org/smol") == [(".dockerconfigjson", False)]


def test_the_layer_is_reproducible_and_holds_the_files_under_models(tmp_path):
    from tuneforge.sources.oci import layer

    (tmp_path / "out" / "merged").mkdir(parents=True)
    (tmp_path / "out" / "merged" / "config.json").write_text("{}")
    (tmp_path / "out" / "tuneforge-output.json").write_text('{"kind": "MergeJob"}')
    first = layer(tmp_path / "out", tmp_path / "a.tar.gz")
    (tmp_path / "out" / "merged" / "config.json").touch()  # a new mtime changes nothing
    second = layer(tmp_path / "out", tmp_path / "b.tar.gz")
    assert first == second and (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    raw = gzip.decompress((tmp_path / "a.tar.gz").read_bytes())
    assert first == f"sha256:{hashlib.sha256(raw).hexdigest()}"
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert sorted(m.name for m in tar.getmembers()) == ["models", "models/merged", "models/merged/config.json",
                                                            "models/tuneforge-output.json"]
