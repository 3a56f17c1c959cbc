"""The entry point of every worker image and of local runs: `python -m tuneforge.worker --spec FILE`.

The spec file is the resource (apiVersion, kind, metadata, spec) as JSON or YAML, with every
`fromJob` source already resolved to a URI. The worker validates it, runs the backend, writes the
output record, and reports progress and the result through the progress protocol.
Exit codes: 0 done, 2 invalid spec or input (retrying will not help), 1 anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import traceback
from pathlib import Path

from .contract import EXIT_INVALID, OUTPUT_RECORD, REMOTE_SCHEMES
from .api.manifest import load_file
from .backends import backend_for
from .progress import Reporter
from .errors import InputError
from . import record
from .sources import cache_root, local_path





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
        from .sources import s3

        if s3.exists(output.uri, output.secret_ref, OUTPUT_RECORD):
            if staged:
                return "done"
            if not output.overwrite:
                raise InputError(f"spec.output: {output.uri} already holds a finished job ({OUTPUT_RECORD}); choose "
                                 "another output or set spec.output.overwrite: true to replace it")
    if staged:
        return "upload"
    finished.unlink(missing_ok=True)
    return "run"


def publish(output, out: Path, name: str, reporter: Reporter) -> None:
    reporter.progress(0, 1, force=True, stage=f"upload to {output.uri}")
    if output.uri.startswith("s3://"):
        from .sources import s3

        s3.upload(out, output.uri, output.secret_ref, last=OUTPUT_RECORD)
    else:
        from .sources import hub

        hub.push(out, output.uri, None, output.secret_ref, name)
    reporter.progress(1, 1, force=True, stage="uploaded")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuneforge.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="the resource as JSON or YAML")
    parser.add_argument("--output", help="output folder (default: from spec.output.uri)")
    args = parser.parse_args(argv)

    docs = load_file(args.spec)
    if len(docs) != 1 or docs[0].resource is None:
        for doc in docs:
            for line in doc.lines():
                print(line, file=sys.stderr)
        if len(docs) != 1:
            print(f"{args.spec}: a worker runs exactly one resource, got {len(docs)}", file=sys.stderr)
        return EXIT_INVALID
    resource, raw = docs[0].resource, docs[0].raw
    reporter = Reporter()
    try:
        out = output_dir(resource, args.output)
        remote = args.output is None and (resource.spec.output.uri or "").startswith(REMOTE_SCHEMES)
        todo = guard_remote_output(resource.spec.output, out, raw) if remote else "run"
        if not remote:
            guard_finished_output(out, resource.spec.output.overwrite)
        out.mkdir(parents=True, exist_ok=True)
        if todo == "run":
            run = backend_for(resource).run()
            result = run.run(resource, raw, out, reporter)
        else:
            result = record.read(out)
        if remote and result and todo != "done":
            publish(resource.spec.output, out, f"{resource.kind}/{resource.metadata.name}", reporter)
    except (InputError, NotImplementedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ModuleNotFoundError as exc:
        print(f"error: this worker image lacks {exc.name}; {resource.kind} method {resource.spec.method} "
              f"needs the '{backend_for(resource).name}' image", file=sys.stderr)
        return EXIT_INVALID
    except Exception:
        traceback.print_exc()
        return 1
    if not result:  # a non-zero rank under torchrun: rank 0 reports for everyone
        return 0
    files = result["files"]
    reporter.result({
        # Downstream jobs read from here: the spec's own URI where it has one (pvc://, s3://, ...).
        "uri": resource.spec.output.uri if args.output is None and resource.spec.output.uri else f"file://{out.resolve()}",
        "files": len(files),
        "totalBytes": sum(f["size"] for f in files),
        "finalLoss": result["metrics"].get("finalLoss"),
        "artifacts": result["artifacts"],
        "sample": result["metrics"].get("sample"),
    })
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
