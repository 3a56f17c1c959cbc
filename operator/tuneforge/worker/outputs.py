"""Where a worker writes: its output folder (a staging folder in the cache for s3:// and hf://
outputs), the guards that keep a finished output from being overwritten, and the upload."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..contract import OUTPUT_RECORD, REMOTE_SCHEMES
from ..errors import InputError
from ..sources import cache_root, local_path
from .progress import Reporter


def output_dir(resource, override: str | None) -> Path:
    """Where the worker writes: the output itself, or for s3:// and hf:// a staging folder in the
    cache that is uploaded at the end (and kept, so a failed upload or a crash can resume)."""
    if override:
        return Path(override)
    uri = resource.spec.output.uri
    if uri is None:
        return Path("out") / resource.metadata.name
    if uri.startswith(REMOTE_SCHEMES):
        tag = hashlib.sha256(uri.encode()).hexdigest()[:8]
        return cache_root() / "staging" / f"{resource.kind.lower()}-{resource.metadata.name}-{tag}"
    return local_path(uri)


def guard_finished_output(out: Path, overwrite: bool) -> None:
    """Never replace a finished output by accident; a half-done one (checkpoints) is resumed."""
    finished = out / OUTPUT_RECORD
    if finished.exists():
        if not overwrite:
            raise InputError(
                f"spec.output: {out} already holds a finished job ({OUTPUT_RECORD}); choose another output "
                "or set spec.output.overwrite: true to replace it"
            )
        finished.unlink()


def guard_remote_output(output, out: Path, raw: dict) -> str:
    """What an s3:// or hf:// output needs: "run" (then upload), "upload" (the staging folder holds
    this very run, finished: only its upload is missing) or "done" (uploaded already)."""
    finished = out / OUTPUT_RECORD
    staged = finished.exists() and json.loads(finished.read_text()).get("parameters") == raw["spec"]
    if output.uri.startswith("s3://"):
        from ..sources import s3

        if s3.exists(output.uri, output.secret_ref, OUTPUT_RECORD):
            if staged:
                return "done"
            if not output.overwrite:
                raise InputError(f"spec.output: {output.uri} already holds a finished job ({OUTPUT_RECORD}); choose "
                                 "another output or set spec.output.overwrite: true to replace it")
    if output.uri.startswith("oci://"):
        from ..sources import oci

        manifest = oci.exists(output.uri, output.secret_ref, output.insecure)
        if manifest is not None:
            pushed = (manifest.get("annotations") or {}).get("io.tuneforge.record-digest")
            if staged and pushed == f"sha256:{hashlib.sha256(finished.read_bytes()).hexdigest()}":
                return "done"
            if not output.overwrite:
                raise InputError(f"spec.output: {output.uri} already names an image; choose another tag or set "
                                 "spec.output.overwrite: true to move the tag to this job's image")
    if staged:
        return "upload"
    finished.unlink(missing_ok=True)
    return "run"


def publish(output, out: Path, name: str, reporter: Reporter) -> None:
    reporter.progress(0, 1, force=True, stage=f"upload to {output.uri}")
    if output.uri.startswith("s3://"):
        from ..sources import s3

        s3.upload(out, output.uri, output.secret_ref, last=OUTPUT_RECORD)
    elif output.uri.startswith("oci://"):
        from ..sources import oci

        record = json.loads((out / OUTPUT_RECORD).read_text())
        digest = f"sha256:{hashlib.sha256((out / OUTPUT_RECORD).read_bytes()).hexdigest()}"
        pushed = oci.push(out, output.uri, oci.annotations(record, digest), output.secret_ref, output.insecure)
        print(f"pushed {output.uri} ({pushed})", flush=True)
    else:
        from ..sources import hub

        hub.push(out, output.uri, None, output.secret_ref, name)
    reporter.progress(1, 1, force=True, stage="uploaded")
