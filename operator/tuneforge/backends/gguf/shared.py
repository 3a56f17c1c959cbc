"""One f16 conversion and one reference measurement per model, shared by every QuantizeJob.

Both are kept in the shared cache (the volume pods share, ~/.cache/tuneforge locally) under the
model's content digest, built once under the same locks as downloads: two jobs of one model, or a
second run of the quickstart, convert and measure once. The digest covers every file of the model
folder, so a retrained model with the same name is never mistaken for the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from ...sources.cache import build_once, cache_root
from ...worker.record import sha256
from . import convert

# Bump when the conversion or the reference measurement changes meaning, so older entries are not reused.
REVISION = "1"


def model_digest(model_dir: Path) -> str:
    """sha256 over each file's relative path and sha256 (hidden files and locks left out)."""
    whole = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        if rel.startswith(".") or "/." in rel or rel.endswith(".lock"):
            continue
        whole.update(f"{rel}\0{sha256(path)}\n".encode())
    return whole.hexdigest()


def entry(digest: str, kind: str) -> Path:
    import llama_cpp

    return cache_root() / "gguf" / f"{digest[:32]}-{kind}-llama{llama_cpp.__version__}-r{REVISION}"


def converted(model_dir: Path, kind: str, log) -> tuple[Path, dict[str, Any]]:
    """(the unquantized GGUF in the cache, what the record says of it)."""
    started = time.monotonic()
    digest = model_digest(model_dir)
    folder = entry(digest, kind)
    built = []

    def build(tmp: Path) -> None:
        convert.convert(model_dir, tmp / "model.gguf", kind, log)
        built.append(True)

    build_once(folder, build)
    info = {"modelDigest": f"sha256:{digest}", "fromCache": not built, "seconds": round(time.monotonic() - started, 1)}
    if not built:
        log(f"conversion: the {kind} GGUF of this model (sha256:{digest[:12]}) comes from the shared cache, "
            f"{folder}; not converted again")
    return folder / "model.gguf", info


def reference_paths(base: Path, text: str, chunk_size: int, max_tokens: int, sample: bool) -> tuple[Path, Path]:
    """(log-probability table, summary) of the unquantized model on this evaluation, beside its GGUF."""
    key = hashlib.sha256(json.dumps([text, chunk_size, max_tokens, sample]).encode()).hexdigest()[:16]
    return base.parent / f"reference-{key}.npy", base.parent / f"reference-{key}.json"


def save_summary(path: Path, summary: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(summary))
    os.replace(partial, path)

