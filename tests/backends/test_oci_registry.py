"""oci:// against a real registry on loopback (Debian's docker-registry, with a password): a MergeJob
pushes its model as an image, a QuantizeJob pulls it back as its source and pushes its GGUF; the
registry's own API shows the manifest, the one layer under /models and the annotations."""

import gzip
import hashlib
import io
import json
import tarfile

import pytest
import yaml
from support import registry as registry_support
from support.run import tuneforge

from tuneforge.api.sources import secret_env
from tuneforge.sources.cache import cache_root
from tuneforge.worker import record

pytestmark = pytest.mark.slow
API = "tuneforge.io/v1alpha1"
BUILTIN = {"uri": "builtin://smollm2-135m-instruct"}
WRONG = "not-the-password-3f9a"


@pytest.fixture
def env(registry, tmp_path, monkeypatch):
    # What the operator's secretKeyRef gives the worker for two docker-config Secrets.
    monkeypatch.setenv(secret_env("regcred", ".dockerconfigjson"), registry.docker_config())
    monkeypatch.setenv(secret_env("wrong", ".dockerconfigjson"), registry.docker_config(WRONG))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(cache_root() / "models")  # the built-in model, not this test's subject
    monkeypatch.setenv("TUNEFORGE_CACHE", str(cache))
    return registry


def merge_doc(address: str, tag: str = "merged", dtype: str = "float32") -> dict:
    return {"apiVersion": API, "kind": "MergeJob", "metadata": {"name": "smol-merged"},
            "spec": {"method": "linear", "models": [{"model": BUILTIN, "parameters": {"weight": 1.0}}], "dtype": dtype,
                     "output": {"uri": f"oci://{address}/smol:{tag}", "secretRef": {"name": "regcred"}, "sample": "off"}}}


def quantize_doc(address: str, secret: str = "regcred", tag: str = "q4km") -> dict:
    return {"apiVersion": API, "kind": "QuantizeJob", "metadata": {"name": "smol-q"},
            "spec": {"method": "gguf", "model": {"uri": f"oci://{address}/smol:merged", "secretRef": {"name": secret}},
                     "gguf": {"types": ["q4_k_m"]}, "evaluation": {"enabled": False},
                     "output": {"uri": f"oci://{address}/smol:{tag}", "secretRef": {"name": "regcred"}, "sample": "off"}}}


def run(tmp_path, *docs):
    path = tmp_path / "oci.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return tuneforge("run", str(path), timeout=1200)


def staged_record(kind: str, name: str) -> tuple[dict, str]:
    folder = next(p for p in (cache_root() / "staging").glob(f"{kind.lower()}-{name}-*") if p.is_dir())
    raw = (folder / record.OUTPUT_RECORD).read_bytes()
    return json.loads(raw), f"sha256:{hashlib.sha256(raw).hexdigest()}"


def test_push_an_image_and_read_it_back_as_a_source(env, tmp_path):
    proc = run(tmp_path, merge_doc(env.address), quantize_doc(env.address))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(json.loads(env.get("smol/tags/list")[0])["tags"]) == ["merged", "q4km"]

    body, headers = env.get("smol/manifests/q4km")
    manifest = json.loads(body)
    assert headers["Docker-Content-Digest"] == f"sha256:{hashlib.sha256(body).hexdigest()}"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    quantized, digest = staged_record("QuantizeJob", "smol-q")
    notes = manifest["annotations"]
    assert (notes["io.tuneforge.job"], notes["io.tuneforge.method"]) == ("QuantizeJob/smol-q", "gguf")
    assert notes["io.tuneforge.record-digest"] == digest
    assert notes["io.tuneforge.base-model"] == f"oci://{env.address}/smol:merged"

    # The layer holds the job's files under models/, as a modelcar mounts them.
    blob, _ = env.get(f"smol/blobs/{manifest['layers'][0]['digest']}", accept="*/*")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    assert names == {f"models/{f['path']}" for f in quantized["files"]} | {"models/tuneforge-output.json"}
    config = json.loads(env.get(f"smol/blobs/{manifest['config']['digest']}", accept="*/*")[0])
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(gzip.decompress(blob)).hexdigest()}"]

    # The QuantizeJob read the MergeJob's image: its files, byte for byte what the merge recorded.
    merged, merged_digest = staged_record("MergeJob", "smol-merged")
    source = quantized["inputs"]["model"]["path"]
    pulled = next(p for p in (cache_root() / "oci").glob("*/models") if str(p) in source)
    for entry in merged["files"]:
        assert hashlib.sha256((pulled / entry["path"]).read_bytes()).hexdigest() == entry["sha256"], entry["path"]
    assert f"sha256:{hashlib.sha256((pulled / 'tuneforge-output.json').read_bytes()).hexdigest()}" == merged_digest

    # A tag that already names an image is not moved by accident.
    again = run(tmp_path, merge_doc(env.address, dtype="float16"))
    assert again.returncode == 2
    assert f"spec.output: oci://{env.address}/smol:merged already names an image" in again.stderr


def test_a_wrong_credential_is_refused_clearly_without_the_secret(env, tmp_path):
    proc = run(tmp_path, quantize_doc(env.address, secret="wrong", tag="never"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    log = (tmp_path / "out" / "smol-q.log") if (tmp_path / "out" / "smol-q.log").exists() else None
    text = proc.stdout + proc.stderr + (log.read_text() if log else "")
    assert f"oci://{env.address}/smol:merged: the registry refused the credentials of Secret wrong" in text
    assert WRONG not in text and registry_support.PASSWORD not in text
