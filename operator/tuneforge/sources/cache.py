"""The shared cache of models and datasets (a volume shared by pods, ~/.cache/tuneforge locally): where
entries live, and building an entry once under a lock. Standard library only: every source uses it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..contract import CACHE_ENV  # constants only: the cache imports nothing else of tuneforge


def cache_root() -> Path:
    """TUNEFORGE_CACHE, else ~/.cache/tuneforge (a shared volume in pods)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tuneforge")


# Bump when the built-in models' conversion changes, so caches of older conversions are not reused.
BUILTIN_REVISION = "r2"


def builtin_model_dir(name: str) -> Path:
    return cache_root() / "models" / "builtin" / f"{name}-{BUILTIN_REVISION}"


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
