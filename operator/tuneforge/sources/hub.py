"""hf:// sources and outputs through huggingface_hub.

Sources are `snapshot_download`s into the hub cache (HF_HOME: the shared cache volume in pods):
pinned by revision, resumable (the hub client keeps `.incomplete` files and continues them), and
shared between jobs, since the cache is keyed by repository and commit. With HF_HUB_OFFLINE=1 the
same call serves from the cache alone. Outputs are pushed as one commit with `upload_folder`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..api.sources import SecretRef, secret_env
from ..errors import SourceError

# Weights the hub client may skip when safetensors exist: they would only be refused or unused.
PICKLE_PATTERNS = ["*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.msgpack", "*.h5", "*.ot"]


def repo(uri: str) -> tuple[str, str]:
    """(repo_type, repo_id) of hf://org/name or hf://datasets/org/name."""
    rest = uri.removeprefix("hf://").strip("/")
    if rest.startswith("datasets/"):
        return "dataset", rest.removeprefix("datasets/")
    return "model", rest


def token(ref: SecretRef | None) -> str | None:
    """The Secret's token, else whatever huggingface_hub finds itself (HF_TOKEN, a login)."""
    if ref is None:
        return None
    value = os.environ.get(secret_env(ref.name, ref.key or "token"))
    if not value:
        raise SourceError(f"secretRef {ref.name}: key {ref.key or 'token'} is empty or was not mounted")
    return value


def download(uri: str, revision: str | None, ref: SecretRef | None, allow_pickle: bool = False) -> Path:
    """The local snapshot folder of a model or dataset repository at `revision`."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    repo_type, repo_id = repo(uri)
    if repo_id.count("/") > 1:
        raise SourceError(f"{uri}: name a repository (hf://org/name or hf://datasets/org/name), not a path inside one")
    at = f"{uri}@{revision or 'main'}"
    try:
        # Offline, a pinned commit must come from its snapshot folder, not from a cached file listing.
        path = snapshot_download(repo_id, repo_type=repo_type, revision=revision, token=token(ref),
                                 local_files_only=constants.HF_HUB_OFFLINE,
                                 ignore_patterns=None if allow_pickle or repo_type == "dataset" else _skip(repo_id, revision, ref))
    except GatedRepoError:
        return _fail(f"{at}: the repository is gated; accept its terms on the hub and set secretRef to a Secret "
                     "with a token of that account")
    except RepositoryNotFoundError:
        hint = "" if ref else "; if it is private, set secretRef to a Secret with a token"
        return _fail(f"{at}: no such {repo_type} repository (or no access){hint}")
    except RevisionNotFoundError:
        return _fail(f"{at}: no such revision (branch, tag or commit)")
    except LocalEntryNotFoundError:
        return _fail(f"{at}: not in the hub cache and downloads are off (HF_HUB_OFFLINE); run once with access to "
                     "the hub or pre-fill the cache")
    except OSError as exc:
        return _fail(f"{at}: download failed ({type(exc).__name__}: {exc}); running the job again resumes it")
    return Path(path)


def _fail(message: str) -> Path:
    raise SourceError(message)


def _skip(repo_id: str, revision: str | None, ref: SecretRef | None) -> list[str] | None:
    """Skip pickle weights when the repository also has safetensors (most do); otherwise download
    everything and let the pickle check refuse it with its own message."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        files = HfApi().list_repo_files(repo_id, revision=revision, token=token(ref))
    except Exception:  # noqa: BLE001 - snapshot_download reports the real problem
        return None
    return PICKLE_PATTERNS if any(f.endswith(".safetensors") for f in files) else None


def push_plan(folder: Path, uri: str, revision: str | None, name: str) -> dict[str, Any]:
    """What a push does: create the repository (private, if missing) and upload the folder as one commit."""
    repo_type, repo_id = repo(uri)
    return {
        "create_repo": {"repo_id": repo_id, "repo_type": repo_type, "private": True, "exist_ok": True},
        "upload_folder": {"repo_id": repo_id, "repo_type": repo_type, "folder_path": str(folder),
                          "revision": revision, "commit_message": f"tuneforge: {name}",
                          # Scratch that is not part of the result.
                          "ignore_patterns": ["checkpoints/**", "*.part", "*.lock"]},
    }


def push(folder: Path, uri: str, revision: str | None, ref: SecretRef | None, name: str) -> str:
    """Push and return the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token(ref))
    plan = push_plan(folder, uri, revision, name)
    try:
        api.create_repo(**plan["create_repo"])
        if revision:
            api.create_branch(plan["create_repo"]["repo_id"], repo_type=plan["create_repo"]["repo_type"],
                              branch=revision, exist_ok=True)
        return str(api.upload_folder(**plan["upload_folder"]))
    except Exception as exc:  # noqa: BLE001 - hub errors name the repository, never the token
        raise SourceError(f"{uri}: push failed ({type(exc).__name__}: {exc})") from None
