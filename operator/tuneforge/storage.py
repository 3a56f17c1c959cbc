"""Resolve model and dataset sources to local paths, and lay out outputs.

Light by design: heavy work (turning the built-in GGUF into a safetensors folder) lives in
`tuneforge.builtin` and is imported only when a built-in model is actually used.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.resources
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .api.constants import OUTPUT_RECORD
from .api.sources import DatasetSource, ModelSource, builtin_name
from .errors import SourceError

__all__ = ["SourceError", "cache_root", "local_path", "locked", "build_once", "resolve_model", "resolve_dataset"]


def cache_root() -> Path:
    """TUNEFORGE_CACHE, else ~/.cache/tuneforge (a shared volume in pods)."""
    return Path(os.environ.get("TUNEFORGE_CACHE") or Path.home() / ".cache" / "tuneforge")


# Bump when the built-in models' conversion changes, so caches of older conversions are not reused.
BUILTIN_REVISION = "r2"


def builtin_model_dir(name: str) -> Path:
    return cache_root() / "models" / "builtin" / f"{name}-{BUILTIN_REVISION}"


def pvc_root() -> Path:
    """Where pvc://claim/... is mounted: /mnt/pvc in pods, TUNEFORGE_PVC_ROOT for local runs."""
    return Path(os.environ.get("TUNEFORGE_PVC_ROOT") or "/mnt/pvc")


def local_path(uri: str) -> Path:
    """The local path of a file:// or pvc:// URI."""
    scheme, _, rest = uri.partition("://")
    if scheme == "file":
        return Path(rest)
    if scheme == "pvc":
        claim, _, inner = rest.strip("/").partition("/")
        volume = pvc_root() / claim
        path = volume / inner if inner else volume
        # A symlink inside the volume must not lead out of it (".." is refused by the API already).
        if not path.resolve().is_relative_to(volume.resolve()):
            raise SourceError(f"{uri}: leads outside the volume {claim} (through a symbolic link)")
        return path
    raise SourceError(f"{uri}: {scheme}:// is accepted by the API but not resolved by this version yet")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process using the same cache entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(target: Path, build) -> Path:
    """Build `target` (a folder) once: under a lock, into a temporary sibling, then renamed in place.

    A crash leaves no half-written target, and concurrent callers wait and reuse the result.
    """
    if target.is_dir():
        return target
    with locked(target):
        if target.is_dir():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            build(tmp)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(source: ModelSource) -> Path:
    """A local folder with an HF model (config, safetensors, tokenizer)."""
    if source.from_job is not None:
        raise SourceError(
            f"fromJob {source.from_job.kind}/{source.from_job.name} must be resolved to the upstream output "
            "before the worker starts"
        )
    assert source.uri is not None
    name = builtin_name(source.uri)
    if name is not None:
        from . import builtin

        return builtin.materialize_model(name)
    path = fetch(source.uri, source.revision, source.secret_ref, source.allow_pickle)
    path = model_artifact(path)
    check_weights(path, source)
    check_code(path, source)
    return path


def fetch(uri: str, revision: str | None = None, secret_ref=None, allow_pickle: bool = False) -> Path:
    """A local path for any non-built-in URI: hf:// and s3:// are downloaded into the shared cache."""
    if uri.startswith("hf://"):
        from . import hub

        return hub.download(uri, revision, secret_ref, allow_pickle)
    if uri.startswith("s3://"):
        from . import s3

        return s3.download(uri, secret_ref)
    path = local_path(uri)
    if not path.exists():
        raise SourceError(f"{uri}: {path} does not exist")
    return path


def model_artifact(path: Path) -> Path:
    """The model inside another tuneforge job's output folder (e.g. merged/), when given the folder:
    a cluster chains jobs by their output URI, which names the folder, not the model in it."""
    record = path / OUTPUT_RECORD
    if path.is_dir() and record.is_file() and not (path / "config.json").exists():
        import json

        model = json.loads(record.read_text()).get("artifacts", {}).get("model")
        if model and (path / model).is_dir():
            return path / model
    return path


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
SAFE_SUFFIXES = (".safetensors", ".gguf")


def check_weights(path: Path, source: ModelSource) -> None:
    """Refuse a model whose only weights are pickles unless its spec allows them: loading a pickle
    runs whatever code the file carries. Safetensors and GGUF are plain data."""
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    if source.allow_pickle or any(f.suffix in SAFE_SUFFIXES for f in files):
        return
    pickles = sorted(f.name for f in files if f.suffix in PICKLE_SUFFIXES)
    if pickles:
        shown = ", ".join(pickles[:3]) + (f" and {len(pickles) - 3} more" if len(pickles) > 3 else "")
        raise SourceError(f"{source.uri}: its weights are pickle files only ({shown}); loading a pickle runs code "
                          "from the file. Convert them to safetensors, or set allowPickle: true on this model "
                          "if you trust where it comes from")


def check_code(path: Path, source: ModelSource) -> None:
    """Refuse a model that needs its own Python code (config.json `auto_map` for an architecture
    transformers does not know) unless its spec trusts it. transformers would refuse too, but with
    a traceback; this says which field to set, before anything is loaded."""
    import json

    config = path / "config.json"
    if source.trust_remote_code or not config.is_file():
        return
    data = json.loads(config.read_text())
    auto_map = data.get("auto_map")
    if not isinstance(auto_map, dict) or not auto_map:
        return
    try:
        from transformers import CONFIG_MAPPING

        if data.get("model_type") in CONFIG_MAPPING:
            return  # transformers has its own class for it and runs none of the model's code
    except ImportError:
        pass
    modules = sorted({str(v if isinstance(v, str) else v[0]).split("--")[-1].split(".")[0] + ".py"
                      for v in auto_map.values() if v})
    raise SourceError(f"{source.uri}: the model needs its own Python code ({', '.join(modules)}, named by auto_map in "
                      "config.json); it runs only with trustRemoteCode: true on this model. Leave it off unless you "
                      "trust where the model comes from")


def reachable_config(source: ModelSource) -> Path | None:
    """The model's config.json when it can be read offline without downloading anything."""
    if source.uri is None:
        return None
    name = builtin_name(source.uri)
    if name is not None:
        path = builtin_model_dir(name) / "config.json"
    elif source.uri.startswith(("file://", "pvc://")):
        path = local_path(source.uri) / "config.json"
    else:
        return None
    return path if path.is_file() else None


def resolve_dataset(source: DatasetSource) -> Path:
    """A local file (or folder) holding the dataset rows."""
    name = builtin_name(source.uri)
    if name is not None:
        ref = importlib.resources.files("tuneforge") / "data" / f"{name}.jsonl"
        with importlib.resources.as_file(ref) as path:
            return Path(path)
    return fetch(source.uri, source.revision, source.secret_ref)
