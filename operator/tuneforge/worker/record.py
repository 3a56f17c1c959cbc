"""The output record `tuneforge-output.json`: what was made, from what, and the files with hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from ..api.constants import OUTPUT_RECORD


def sha256(path: Path) -> str:
    # file_digest reads straight into OpenSSL: about 1.6x faster than a Python read loop here.
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class Digests:
    """sha256 of finished files, computed in a background thread while the backend writes the next
    one (hashing releases the GIL), so the record at the end need not read them all again."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        self._pending: dict[Path, tuple[int, int, Any]] = {}

    def add(self, path: Path) -> None:
        stat = path.stat()
        self._pending[path.resolve()] = (stat.st_size, stat.st_mtime_ns, self._pool.submit(sha256, path))

    def get(self, path: Path) -> str | None:
        """The digest, if `path` is unchanged since it was added."""
        found = self._pending.get(path.resolve())
        if found is None:
            return None
        stat = path.stat()
        return found[2].result() if (stat.st_size, stat.st_mtime_ns) == found[:2] else None


def list_files(root: Path, skip: tuple[str, ...] = (), digests: Digests | None = None) -> list[dict[str, Any]]:
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel == OUTPUT_RECORD or any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        digest = (digests.get(path) if digests else None) or sha256(path)
        files.append({"path": rel, "size": path.stat().st_size, "sha256": digest})
    return files


def versions(*packages: str) -> dict[str, str]:
    found = {}
    for name in ("tuneforge", *packages):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def write(
    root: Path,
    resource: dict[str, Any],
    inputs: dict[str, Any],
    artifacts: dict[str, str],
    metrics: dict[str, Any],
    libraries: tuple[str, ...] = (),
    skip: tuple[str, ...] = (),
    digests: Digests | None = None,
) -> dict[str, Any]:
    """Write the record into `root` and return it. `skip` leaves scratch folders (checkpoints) out."""
    record = {
        "apiVersion": resource["apiVersion"],
        "kind": resource["kind"],
        "name": resource["metadata"]["name"],
        "method": resource["spec"]["method"],
        "createdAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inputs": inputs,
        "parameters": resource["spec"],
        "artifacts": artifacts,
        "metrics": metrics,
        "libraries": versions(*libraries),
        "excluded": list(skip),
        "files": list_files(root, skip, digests),
    }
    save(root, record)
    return record


def save(root: Path, record: dict[str, Any]) -> None:
    """The record as `write` lays it out (also for adding to one, e.g. a gate's verdict)."""
    (root / OUTPUT_RECORD).write_text(json.dumps(record, indent=2) + "\n")


def read(root: Path) -> dict[str, Any]:
    return json.loads((root / OUTPUT_RECORD).read_text())


def mismatches(root: Path) -> list[str]:
    """Files whose size or hash differ from the record (empty when the record is truthful)."""
    record = read(root)
    found = []
    listed = {f["path"]: f for f in record["files"]}
    skip = tuple(record.get("excluded", ()))
    actual = {f["path"]: f for f in list_files(root, skip)}
    for path in sorted(set(listed) | set(actual)):
        if path not in actual:
            found.append(f"{path}: listed but missing")
        elif path not in listed:
            found.append(f"{path}: present but not listed")
        elif listed[path] != actual[path]:
            found.append(f"{path}: size or sha256 differs")
    return found
