"""oci:// models: an output pushed as an OCI image whose one layer holds the files under /models
(what KServe's modelcars mount), and such an image pulled into the shared cache as a source.

oras (the Python SDK of ORAS) speaks the registry protocol: the token and basic auth flows, docker
config files, blob and manifest uploads. This module builds the image (a reproducible layer, its
config, the annotations) and keeps pulled images in the cache by manifest digest, once per digest.
Credentials come from a docker-config Secret (kubernetes.io/dockerconfigjson) named by secretRef, or
locally from the user's docker config; plain HTTP only for a loopback registry or with `insecure`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..api.oci import OciReference, parse
from ..api.sources import DOCKER_CONFIG_KEY, SecretRef, secret_env
from .cache import build_once, cache_root
from ..errors import SourceError

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
# What a modelcar built with docker or buildah may carry beside tuneforge's own OCI layer.
LAYER_MEDIA_TYPES = (LAYER_MEDIA_TYPE, "application/vnd.docker.image.rootfs.diff.tar.gzip")
MANIFEST_MEDIA_TYPES = (MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json")
ATTEMPTS = 3  # tries per layer in one pull; a later pull resumes where these stopped
CHUNK = 1 << 20
LAYER_FILE = "models.tar.gz"


class _Hashing(io.RawIOBase):
    """Passes writes on to `sink` and hashes them: the layer's uncompressed digest (its diff_id)."""

    def __init__(self, sink) -> None:
        self.sink, self.sha = sink, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        return self.sink.write(data)


def layer(folder: Path, target: Path) -> str:
    """`folder`'s files as models/<path> in a gzip tar at `target`, reproducible (sorted, no times, no
    owners), so the same files give the same digest; returns the uncompressed tar's sha256."""
    # No file name and no time in the gzip header either: the same files give the same blob.
    with open(target, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=3) as gz:
        hashing = _Hashing(gz)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for path in [folder, *sorted(folder.rglob("*"))]:
                rel = path.relative_to(folder).as_posix()
                info = tar.gettarinfo(str(path), arcname="models" if rel == "." else f"models/{rel}")
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.mode = 0o755 if path.is_dir() else 0o644
                if path.is_file():
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
    return f"sha256:{hashing.sha.hexdigest()}"


@contextmanager
def _client(ref: OciReference, secret: SecretRef | None, insecure: bool) -> Iterator[tuple[Any, str | None]]:
    """(an oras client for the registry, the docker config file holding the Secret's credentials)."""
    import oras.provider

    plain = ref.loopback or insecure
    client = oras.provider.Registry(hostname=ref.registry, insecure=plain, auth_backend=_auth_scheme(ref, plain))
    if secret is None:
        yield client, None  # the user's own docker config (~/.docker/config.json, DOCKER_CONFIG)
        return
    key = secret.key or DOCKER_CONFIG_KEY
    content = os.environ.get(secret_env(secret.name, key))
    if not content:
        raise SourceError(f"secretRef {secret.name}: key {key} is empty or was not mounted (a docker-config "
                          f"Secret: kubectl create secret docker-registry {secret.name} ...)")
    with tempfile.TemporaryDirectory(prefix="tuneforge-oci-") as folder:
        path = Path(folder) / "config.json"
        path.touch(mode=0o600)
        path.write_text(content)
        yield client, str(path)


def _auth_scheme(ref: OciReference, plain: bool) -> str:
    """oras's backend for the registry's challenge: "basic" (an htpasswd registry) or "token" (Docker
    Hub, GHCR, Harbor, ...); oras's token backend takes a Basic challenge's realm for a token URL."""
    import requests

    try:
        answer = requests.get(f"{'http' if plain else 'https'}://{ref.registry}/v2/", timeout=30)
    except requests.RequestException:
        return "token"  # the real request reports the problem
    challenge = answer.headers.get("WWW-Authenticate", "")
    return "basic" if answer.status_code == 401 and challenge.lower().startswith("basic") else "token"


def _explain(uri: str, secret: SecretRef | None, exc: Exception) -> SourceError:
    """A registry's refusal in words, never with a credential in it."""
    import requests

    status = getattr(getattr(exc, "response", None), "status_code", None)
    text = str(exc)
    if isinstance(exc, AttributeError):  # oras's basic auth with no credentials at all
        return SourceError(f"{uri}: the registry asks for credentials and none were given: set secretRef to a "
                           "docker-config Secret (locally: docker login, or DOCKER_CONFIG)")
    if status in (401, 403) or "Unauthorized" in text or "Forbidden" in text or "denied" in text.lower():
        whose = f"the credentials of Secret {secret.name}" if secret else "anonymous access (no secretRef)"
        return SourceError(f"{uri}: the registry refused {whose}: check the user, password and registry host in "
                           "the docker config")
    if isinstance(exc, requests.ConnectionError):
        hint = "" if parse(uri).loopback else " (plain HTTP needs insecure: true)"
        return SourceError(f"{uri}: cannot reach the registry{hint}: {type(exc).__name__}")
    if status == 404 or "404" in text or "Not Found" in text:
        return SourceError(f"{uri}: no such image in the registry")
    return SourceError(f"{uri}: the registry refused the request: {text[:300]}")


def push(folder: Path, uri: str, annotations: dict[str, str], secret: SecretRef | None = None,
         insecure: bool = False) -> str:
    """Push `folder` as an image; the manifest's digest."""
    import requests

    ref = parse(uri)
    scratch = cache_root() / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        blob = Path(tmp) / LAYER_FILE
        diff_id = layer(folder, blob)
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": annotations},
                                      "rootfs": {"type": "layers", "diff_ids": [diff_id]}}, sort_keys=True))
        try:
            with _client(ref, secret, insecure) as (client, config_path):
                response = client.push(target=ref.target, files=[f"{blob}:{LAYER_MEDIA_TYPE}"],
                                       manifest_config=f"{config}:{CONFIG_MEDIA_TYPE}", manifest_annotations=annotations,
                                       config_path=config_path, disable_path_validation=True, quiet=True)
        except (ValueError, AttributeError, requests.RequestException) as exc:
            raise _explain(uri, secret, exc) from None
    return response.headers.get("Docker-Content-Digest", "")


def resolve(uri: str, secret: SecretRef | None = None, insecure: bool = False) -> tuple[str, dict[str, Any]]:
    """(the manifest's digest, the manifest) of a tag or digest reference."""
    import requests

    ref = parse(uri)
    try:
        with _client(ref, secret, insecure) as (client, config_path):
            container = client.get_container(ref.target)
            client.auth.load_configs(container, configs=[config_path] if config_path else None)
            response = client.do_request(f"{client.prefix}://{container.manifest_url()}", "GET",
                                         headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)})
            response.raise_for_status()
    except (ValueError, AttributeError, requests.RequestException) as exc:
        raise _explain(uri, secret, exc) from None
    return f"sha256:{hashlib.sha256(response.content).hexdigest()}", response.json()


def _fetch_blob(client: Any, container: Any, blob: dict[str, Any], part: Path, uri: str) -> None:
    """The blob into `part`, resuming from what an earlier try left there (a Range request; a registry
    that answers the whole blob instead starts it again), checked against its digest at the end."""
    import requests

    digest, size = blob["digest"], int(blob.get("size") or 0)
    url = f"{client.prefix}://{container.get_blob_url(digest)}"
    broke: Exception | None = None
    for _ in range(ATTEMPTS):
        have = part.stat().st_size if part.exists() else 0
        if not size or have < size:
            try:
                with client.do_request(url, "GET", headers={"Range": f"bytes={have}-"} if have else {},
                                       stream=True) as response:
                    response.raise_for_status()
                    with open(part, "ab" if response.status_code == 206 else "wb") as out:
                        for chunk in response.iter_content(CHUNK):
                            out.write(chunk)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                broke = exc  # what arrived stays in `part`: the next try asks for the rest
                continue
        if _sha256(part) == digest:
            return
        part.unlink()  # the registry's bytes do not match its digest: start again
        broke = SourceError(f"layer {digest} did not match its digest")
    kept = part.stat().st_size if part.exists() else 0
    raise SourceError(f"{uri}: the download of layer {digest} broke off {ATTEMPTS} times ({kept} of {size} bytes "
                      f"kept; the next pull resumes there): {type(broke).__name__}")


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
    return f"sha256:{sha.hexdigest()}"


def download(uri: str, secret: SecretRef | None = None, insecure: bool = False) -> Path:
    """The image's /models folder in the shared cache, pulled once per manifest digest (a tag that moves
    to new content pulls again; two jobs of one image share one copy). A pull that breaks off keeps
    what arrived beside the cache entry and the next one resumes from there."""
    import requests

    digest, manifest = resolve(uri, secret, insecure)
    ref = parse(uri)
    layers = [layer for layer in manifest.get("layers", []) if layer.get("mediaType") in LAYER_MEDIA_TYPES]
    if not layers:
        raise SourceError(f"{uri}: the image has no gzip tar layer holding /models (is it a tuneforge or modelcar image?)")
    target = cache_root() / "oci" / digest.replace(":", "-")

    def pull(tmp: Path) -> None:
        try:
            with _client(ref, secret, insecure) as (client, config_path):
                container = client.get_container(f"{ref.registry}/{ref.repository}@{digest}")
                client.auth.load_configs(container, configs=[config_path] if config_path else None)
                for blob in layers:  # in order: a later layer's files replace an earlier one's
                    part = target.parent / f".{target.name}.{blob['digest'].replace(':', '-')}.part"
                    _fetch_blob(client, container, blob, part, uri)
                    with tarfile.open(part, "r:gz") as tar:
                        tar.extractall(tmp, filter="data")  # no absolute paths, no escapes, no devices
                    part.unlink()
        except (ValueError, AttributeError, requests.RequestException) as exc:
            raise _explain(uri, secret, exc) from None
        except tarfile.TarError as exc:
            raise SourceError(f"{uri}: a layer is not a gzip tar the image's media type says it is: {exc}") from None
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))

    folder = build_once(target, pull)
    if not (folder / "models").is_dir():
        raise SourceError(f"{uri}: the image's layer holds no models/ folder")
    return folder / "models"


def exists(uri: str, secret: SecretRef | None = None, insecure: bool = False) -> dict[str, Any] | None:
    """The manifest a tag names now, or None when the repository has no such tag."""
    try:
        return resolve(uri, secret, insecure)[1]
    except SourceError as exc:
        if "no such image" in str(exc):
            return None
        raise


def annotations(record: dict[str, Any], record_digest: str) -> dict[str, str]:
    """What the image says of itself: the producing job, its method, its record's digest, the base model."""
    spec = record.get("parameters") or {}
    base = spec.get("model") or spec.get("baseModel") or ((spec.get("models") or [{}])[0].get("model"))
    found = {
        "org.opencontainers.image.title": record["name"],
        "org.opencontainers.image.created": record.get("createdAt", ""),
        "org.opencontainers.image.description": f"{record['kind']} {record['name']} ({record['method']}), files under /models",
        "io.tuneforge.job": f"{record['kind']}/{record['name']}",
        "io.tuneforge.method": record["method"],
        "io.tuneforge.record-digest": record_digest,
    }
    if isinstance(base, dict):
        found["io.tuneforge.base-model"] = base.get("uri") or "{kind}/{name}".format(**base.get("fromJob", {}))
    return found
