"""file:// and pvc:// locations: paths on this machine or in a mounted claim."""

from __future__ import annotations

import os
from pathlib import Path

from ..contract import PVC_ROOT, PVC_ROOT_ENV
from ..errors import SourceError


def pvc_root() -> Path:
    """Where pvc://claim/... is mounted: /mnt/pvc in pods, TUNEFORGE_PVC_ROOT for local runs."""
    return Path(os.environ.get(PVC_ROOT_ENV) or PVC_ROOT)


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
