"""The entry point of every worker image and of local runs: `python -m tuneforge.worker --spec FILE`.

The spec file is the resource (apiVersion, kind, metadata, spec) as JSON or YAML, with every
`fromJob` source already resolved to a URI. The worker validates it, runs the backend, writes the
output record, and reports progress and the result through the progress protocol.
Exit codes: 0 done, 2 invalid spec or input (retrying will not help), 1 anything else.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from ..api.manifest import load_file
from ..backends import backend_for
from ..contract import EXIT_GATE_FAILED, EXIT_INVALID, EXIT_PREEMPTED, REMOTE_SCHEMES
from ..cpus import thread_env
from ..errors import InputError, Preempted
from . import record
from .outputs import guard_finished_output, guard_remote_output, output_dir, publish
from .progress import Reporter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuneforge.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="the resource as JSON or YAML")
    parser.add_argument("--output", help="output folder (default: from spec.output.uri)")
    args = parser.parse_args(argv)
    # Before torch loads OpenMP: in a pod, one thread per core of its CPU limit, not of the node.
    os.environ.update(thread_env(os.environ))
    if "torch" in sys.modules:  # forked with torch loaded (cli/warm.py): it read the variable already
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

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
        # Downstream jobs read from here: the spec's own URI where it has one (pvc://, s3://, ...).
        reporter.output_uri = (resource.spec.output.uri if args.output is None and resource.spec.output.uri
                               else f"file://{out.resolve()}")
        if todo == "run":
            run = backend_for(resource).run()
            result = run.run(resource, raw, out, reporter)
            if result:
                result = judged(resource, out, result)
        else:
            result = record.read(out)
        verdict = (result or {}).get("metrics", {}).get("gate") or {}
        if remote and result and todo != "done" and verdict.get("passed", True):
            publish(resource.spec.output, out, f"{resource.kind}/{resource.metadata.name}", reporter)
    except Preempted as exc:
        print(f"preempted: {exc}", file=sys.stderr)
        return EXIT_PREEMPTED
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
    return _report(reporter, result)


def _report(reporter: Reporter, result: dict) -> int:
    """The result line (the operator's source for status.output), and the exit code it stands for."""
    files = result["files"]
    gate = result["metrics"].get("gate")
    reporter.result({
        "uri": reporter.output_uri,
        "files": len(files),
        "totalBytes": sum(f["size"] for f in files),
        "finalLoss": result["metrics"].get("finalLoss"),
        "artifacts": result["artifacts"],
        "sample": result["metrics"].get("sample"),
        "mlflowRunId": (result["metrics"].get("tracking") or {}).get("runId"),
        **({"gate": _brief(gate)} if gate else {}),
    })
    if gate and not gate["passed"]:
        # Kept where it was written (a remote output is not published), marked in its record.
        print(f"error: {gate['message']}; the output in {reporter.output_uri} is kept, marked as not passed",
              file=sys.stderr)
        return EXIT_GATE_FAILED
    return 0


def _brief(gate: dict) -> dict:
    """The verdict as the result line carries it: the operator reads that line from the termination
    message, which keeps 4096 bytes; with many outputs only the missed checks fit (the record has all)."""
    import json

    if len(json.dumps(gate)) <= 2000:
        return gate
    return {**gate, "checks": [c for c in gate["checks"] if not c["passed"]][:10]}


def judged(resource, out, result: dict) -> dict:
    """The record with spec.gate's verdict in its metrics (unchanged without a gate)."""
    from ..backends.gates import evaluate

    verdict = evaluate(resource, out, result)
    if verdict is None:
        return result
    result["metrics"]["gate"] = verdict
    record.save(out, result)
    return result


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
