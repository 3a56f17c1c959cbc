"""An oci:// pull that breaks off resumes where it stopped: within one pull (a dropped connection is
tried again from the bytes that arrived) and across pulls (what arrived stays beside the cache entry,
as on a model-cache volume when a pod is restarted). The registry is Debian's docker-registry; a proxy
in front of it breaks the blob downloads off."""

import hashlib
import os

import pytest
from support.cutting_proxy import CuttingProxy

from tuneforge.api.sources import SecretRef, secret_env
from tuneforge.errors import SourceError
from tuneforge.sources import oci

MIB = 1 << 20


@pytest.fixture
def pushed(registry, tmp_path, monkeypatch):
    """A 6 MiB model of incompressible bytes pushed to the registry; a proxy in front of it."""
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(6 * MIB))
    (folder / "config.json").write_text('{"model_type": "llama"}')
    monkeypatch.setenv(secret_env("regcred", ".dockerconfigjson"), registry.docker_config())
    oci.push(folder, f"oci://{registry.address}/resume:v1", {"io.tuneforge.job": "test"}, SecretRef(name="regcred"))
    proxy = CuttingProxy(registry.address).start()
    # The credentials as a docker config names the proxy's address (the registry's own password).
    monkeypatch.setenv(secret_env("viaproxy", ".dockerconfigjson"), registry.docker_config(address=proxy.address))
    yield folder, proxy
    proxy.stop()


def layer_size(proxy: CuttingProxy) -> int:
    _, manifest = oci.resolve(f"oci://{proxy.address}/resume:v1", SecretRef(name="viaproxy"))
    return manifest["layers"][0]["size"]


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def test_a_dropped_connection_is_resumed_within_the_pull(pushed):
    model, proxy = pushed
    size = layer_size(proxy)
    proxy.cut_after, proxy.cuts_left = 2 * MIB, 1

    pulled = oci.download(f"oci://{proxy.address}/resume:v1", SecretRef(name="viaproxy"))

    assert digests(pulled) == digests(model)
    first, second = proxy.blobs
    assert (first.range, first.sent) == (None, 2 * MIB)
    # The second request asked for the rest only, and the registry sent only the rest.
    assert (second.range, second.status, second.sent) == (f"bytes={2 * MIB}-", 206, size - 2 * MIB)


def test_a_pull_that_failed_is_resumed_by_the_next_one(pushed):
    model, proxy = pushed
    size = layer_size(proxy)
    uri = f"oci://{proxy.address}/resume:v1"
    proxy.cut_after, proxy.cuts_left = MIB, oci.ATTEMPTS  # every try of the first pull breaks off

    with pytest.raises(SourceError) as failed:
        oci.download(uri, SecretRef(name="viaproxy"))
    kept = oci.ATTEMPTS * MIB
    assert f"broke off {oci.ATTEMPTS} times ({kept} of {size} bytes kept; the next pull resumes there)" in str(failed.value)
    assert [b.range for b in proxy.blobs] == [None] + [f"bytes={n * MIB}-" for n in range(1, oci.ATTEMPTS)]

    proxy.blobs.clear()
    pulled = oci.download(uri, SecretRef(name="viaproxy"))
    assert digests(pulled) == digests(model)
    assert [(b.range, b.sent) for b in proxy.blobs] == [(f"bytes={kept}-", size - kept)]
    assert not list(pulled.parent.parent.glob("*.part")), "the partial download is removed once it is complete"

    # Once per digest: a third pull reads the cache and asks the registry for no blob.
    proxy.blobs.clear()
    assert oci.download(uri, SecretRef(name="viaproxy")) == pulled and proxy.blobs == []
