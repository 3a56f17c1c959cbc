"""Model and dataset sources resolved to local paths, by scheme: builtin://, file://, pvc:// (local.py),
hf:// (hub.py), s3:// (s3.py), all through the shared cache (cache.py) and the safety checks
(safety.py). Light by design: heavy work (turning the built-in GGUF into a safetensors folder) lives
in builtin.py and is imported only when a built-in model is actually used.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from ..api.constants import OUTPUT_RECORD
from ..api.sources import DatasetSource, ModelSource, builtin_name
from ..errors import SourceError
from .cache import build_once, builtin_model_dir, cache_root, locked
from .local import local_path, pvc_root
from .safety import check_code, check_weights

__all__ = ["SourceError", "ModelSource", "build_once", "builtin_model_dir", "cache_root", "check_code", "check_weights",
           "fetch", "local_path", "locked", "pvc_root", "reachable_config", "resolve_dataset", "resolve_model"]


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
    path = fetch(source.uri, source.revision, source.secret_ref, source.allow_pickle, source.insecure)
    path = model_artifact(path)
    check_weights(path, source)
    check_code(path, source)
    return path


def fetch(uri: str, revision: str | None = None, secret_ref=None, allow_pickle: bool = False,
          insecure: bool = False) -> Path:
    """A local path for any non-built-in URI: hf://, s3:// and oci:// are downloaded into the shared cache."""
    if uri.startswith("hf://"):
        from . import hub

        return hub.download(uri, revision, secret_ref, allow_pickle)
    if uri.startswith("s3://"):
        from . import s3

        return s3.download(uri, secret_ref)
    if uri.startswith("oci://"):
        from . import oci

        return oci.download(uri, secret_ref, insecure)
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
