"""The `tuneforge` command: run, validate, crds."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .api.manifest import Document, load_file, load_text, parse
from .contract import EXIT_INVALID, OUTPUT_RECORD, REMOTE_SCHEMES



def _apply_overrides(docs: list[Document], assignments: tuple[str, ...]) -> list[Document]:
    """Apply `--set [NAME:]path=value` to each document whose kind has that field (or to NAME only)."""
    from . import api
    from .api.manifest import schema_node
    from .overrides import OverrideError, apply, parse_path

    if not assignments:
        return docs
    used = {a: False for a in assignments}
    out = []
    for doc in docs:
        raw = doc.raw
        if not isinstance(raw, dict):
            out.append(doc)
            continue
        kind = api.KINDS.get(raw.get("kind"))
        name = (raw.get("metadata") or {}).get("name")
        try:
            for assignment in assignments:
                target, sep, rest = assignment.partition(":")
                if sep and "=" not in target:
                    if target != name:
                        continue
                    assignment = rest
                elif kind is not None and schema_node(kind.model_json_schema(), tuple(parse_path(assignment.partition("=")[0].strip()))) is None:
                    continue
                apply(raw, assignment)
                used[assignment if not sep or "=" in target else f"{target}:{assignment}"] = True
        except OverrideError as exc:
            raise click.UsageError(str(exc)) from exc
        resource, issues = parse(raw)
        out.append(Document(doc.source, doc.index, doc.of, raw, resource, issues))
    unused = [a for a, hit in used.items() if not hit]
    if unused:
        raise click.UsageError(f"--set {unused[0]}: no document in the file has that field (or that name)")
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuneforge")
def main() -> None:
    """Fine-tune, quantize and merge LLMs: on Kubernetes, or locally with the same manifests."""
    # Commands: run, validate, crds, operator.


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
def validate(files: tuple[str, ...]) -> None:
    """Check manifests offline. Prints FILE[:DOC]: field.path: message for each problem."""
    bad = 0
    count = 0
    for name in files:
        docs = load_text(sys.stdin.read(), "<stdin>") if name == "-" else load_file(name)
        for doc in docs:
            count += 1
            for line in doc.lines():
                bad += 1
                click.echo(line)
            for issue in _offline_checks(doc):
                if issue.severity == "error":
                    bad += 1
                    click.echo(f"{doc.where}: {issue.line()}")
                else:
                    click.echo(f"{doc.where}: warning: {issue.line()}", err=True)
    if bad:
        click.echo(f"{bad} problem(s) in {count} document(s)", err=True)
        sys.exit(1)
    click.echo(f"{count} document(s) valid", err=True)


def _offline_checks(doc: Document) -> list:
    """The resource's backend's checks that need the inputs' config.json, run on the configs readable
    offline (built-in, file, pvc): GPU memory fit, merge compatibility, AWQ/GPTQ group sizes."""
    import json

    from .backends import backend_for
    from .sources import SourceError, reachable_config

    def config(source):
        path = reachable_config(source)
        return None if path is None else json.loads(path.read_text())

    if doc.resource is None:  # invalid: its problems are reported already
        return []
    try:
        return list(backend_for(doc.resource).offline_checks(doc.resource, config))
    except (SourceError, OSError, ValueError):
        return []


@main.command()
@click.option("--check", is_flag=True, help="Exit 1 if the committed CRDs differ from the API (or are not structural).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Repository root holding crds/ and charts/tuneforge/crds/.")
def crds(check: bool, root: Path) -> None:
    """Write the CRDs rendered from the API types into crds/ and charts/tuneforge/crds/, and their
    reference page docs/api.md."""
    from . import apidocs
    from . import crds as render

    problems = []
    for name, doc in render.render().items():
        for version in doc["spec"]["versions"]:
            problems += [f"{name}: {p}" for p in render.structural_problems(version["schema"]["openAPIV3Schema"])]
    if check:
        # The operator image ships the CRDs without docs/: check the reference page where it is.
        problems += render.drift(root) + (apidocs.drift(root) if (root / "docs").is_dir() else [])
        for line in problems:
            click.echo(line)
        sys.exit(1 if problems else 0)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        sys.exit(1)
    for path in [*render.write(root), apidocs.write(root)]:
        click.echo(f"wrote {path}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (several documents: one subfolder each). Default: spec.output.uri or ./out/<name>.")
@click.option("--set", "assignments", multiple=True, metavar="PATH=VALUE",
              help="Override a field in every document whose kind has it, e.g. --set spec.training.maxSteps=5; "
                   "NAME:path=value changes one document.")
@click.option("--processes", "-p", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (torchrun; gloo on CPU), as resources.gpus does on a cluster.")
@click.option("--resume", is_flag=True,
              help="Keep the steps whose output already holds a finished run of the same spec, and continue the "
                   "others (fine-tuning from its last checkpoint).")
@click.option("--verbose", "-v", is_flag=True, help="Show the worker's log while it runs.")
def run(file: str, output: Path | None, assignments: tuple[str, ...], processes: int, resume: bool,
        verbose: bool) -> None:
    """Run a manifest on this machine through the same worker code a cluster uses."""
    import time

    from .local import progress_bar, resolve_from_job, run_one

    docs = _apply_overrides(load_file(file), assignments)
    lines = [line for doc in docs for line in doc.lines()]
    if lines:
        for line in lines:
            click.echo(line, err=True)
        sys.exit(EXIT_INVALID)
    started = time.monotonic()
    done: dict[tuple[str, str], Path] = {}
    for number, doc in enumerate(docs, 1):
        step = f"[{number}/{len(docs)}] " if len(docs) > 1 else ""
        missing = resolve_from_job(doc.raw, done)
        if missing:
            click.echo(f"{doc.where}: fromJob {', '.join(missing)} is not an earlier document of {file}", err=True)
            sys.exit(EXIT_INVALID)
        resource, issues = parse(doc.raw)
        assert resource is not None, issues
        doc.resource = resource
        target = _local_target(doc, output, len(docs))
        # s3:// and hf:// outputs: the worker checks the remote side and uploads, as in a pod.
        remote = output is None and (resource.spec.output.uri or "").startswith(REMOTE_SCHEMES)
        kept = None if remote else _finished(target, doc.raw, resume)
        if kept is not None:
            click.echo(f"{doc.where}: {kept}", err=True)
            sys.exit(EXIT_INVALID)
        if resume and not remote and (target / OUTPUT_RECORD).exists():
            click.echo(f"{step}{resource.kind}/{resource.metadata.name}: already done in {target}; kept")
            done[(resource.kind, resource.metadata.name)] = target
            continue
        # One bar at a time, erased when its step ends, so the step's summary follows it cleanly.
        bar = progress_bar(f"{step}{resource.kind}/{resource.metadata.name}")
        try:
            outcome = run_one(doc, target, verbose, processes, bar=bar, label=step, publish=remote)
        finally:
            bar.close()
        if outcome.code != 0:
            _failed(outcome, step, file, done, assignments, output)
            # A shell's convention for a signal (128+N), not Python's wrap-around of a negative code.
            sys.exit(outcome.code if outcome.code > 0 else 128 - outcome.code)
        done[(resource.kind, resource.metadata.name)] = outcome.output
        _summary(outcome, click.echo, step)
    if len(docs) > 1:
        minutes, seconds = divmod(int(time.monotonic() - started), 60)
        click.echo(f"pipeline {file}: {len(docs)} jobs done in {minutes}m{seconds:02d}s")


def _local_target(doc: Document, output: Path | None, count: int) -> Path:
    from .worker import output_dir

    resource = doc.resource
    if output is not None:
        return (output if count == 1 else output / resource.metadata.name).resolve()
    # s3:// and hf:// outputs are staged in the cache and uploaded by the worker, as in a pod.
    return output_dir(resource, None).resolve()


def _finished(target: Path, raw: dict, resume: bool) -> str | None:
    """Why a finished output stops this run, or None when the run may go on (or skip it, with --resume)."""
    import json

    record = target / OUTPUT_RECORD
    if not record.exists() or (raw["spec"].get("output") or {}).get("overwrite"):
        return None
    if not resume:
        return (f"spec.output: {target} already holds a finished job ({OUTPUT_RECORD}); pass --resume to keep "
                "it and go on, choose --output another-dir, or --set spec.output.overwrite=true to replace it")
    if json.loads(record.read_text()).get("parameters") != raw["spec"]:
        return (f"spec.output: {target} holds a finished job with another spec; --resume keeps only identical steps. "
                "Choose --output another-dir, or --set spec.output.overwrite=true to replace it")
    return None


def _failed(outcome, step: str, file: str, done: dict[tuple[str, str], Path], assignments: tuple[str, ...],
            output: Path | None) -> None:
    """Which step failed, the end of its log, what is kept, and the command that resumes."""
    import os
    import shlex

    from . import crash

    log = outcome.log.read_text(errors="replace") if outcome.log.exists() else ""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    reason = crash.describe_exit(outcome.code, log, peak_rss=outcome.peak_rss, memory=memory)
    code = f" (exit {outcome.code})" if outcome.code > 0 else ""
    click.echo(f"{step}{outcome.kind}/{outcome.name} failed: {reason}{code}; log: {outcome.log}", err=True)
    tail = crash.without_launcher_report(log.strip().splitlines())[-15:]
    for line in tail:
        click.echo(f"  | {line}", err=True)
    for (kind, name), path in done.items():
        click.echo(f"  kept: {kind}/{name} -> {path}", err=True)
    if outcome.output.exists() and any(outcome.output.iterdir()):
        click.echo(f"  kept: the partial output of {outcome.kind}/{outcome.name} in {outcome.output} "
                   "(checkpoints included)", err=True)
    args = ["tuneforge", "run", file, *(["--output", str(output)] if output else []),
            *(a for s in assignments for a in ("--set", s)), "--resume"]
    click.echo(f"  fix the cause above, then resume with: {shlex.join(args)}", err=True)


@main.command()
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Watch this namespace (repeatable).")
@click.option("--all-namespaces", "-A", is_flag=True, help="Watch every namespace.")
@click.option("--standalone/--peering", default=True, show_default=True,
              help="Run alone (one replica, the chart's default) or coordinate with other replicas.")
@click.option("--liveness", default="http://0.0.0.0:8080/healthz", show_default=True, help="Liveness probe endpoint.")
@click.option("--verbose", "-v", is_flag=True, help="Log every handler run, not only what changed.")
def operator(namespaces: tuple[str, ...], all_namespaces: bool, standalone: bool, liveness: str, verbose: bool) -> None:
    """Run the Kubernetes operator (what the operator image starts)."""
    import kopf

    from .controller import main as handlers  # noqa: F401  (registers the handlers)

    if not namespaces and not all_namespaces:
        raise click.UsageError("choose --namespace NS (repeatable) or --all-namespaces")
    exact = not all_namespaces and not any(set(ns) & set("*?[!") for ns in namespaces)
    # kopf.run leaves logging as it finds it; an operator's log is what `kubectl logs` shows.
    kopf.configure(verbose=verbose)
    # kopf names itself after the login user by default, and a container running as a uid without a
    # passwd entry (the chart's 65532) has none: getpass raises. The pod's name is the better identity.
    import os
    import socket

    identity = os.environ.get("POD_NAME") or socket.gethostname()
    kopf.run(standalone=standalone, namespaces=list(namespaces), clusterwide=all_namespaces, liveness_endpoint=liveness,
             identity=identity, memo=kopf.Memo(exact_namespaces=exact))


def _summary(outcome, echo=click.echo, step: str = "") -> None:
    from . import record

    rec = record.read(outcome.output)
    minutes, seconds = divmod(int(outcome.seconds), 60)
    echo(f"{step}{outcome.kind}/{outcome.name}: done in {minutes}m{seconds:02d}s -> {outcome.output}")
    for name, rel in rec["artifacts"].items():
        echo(f"  {name}: {outcome.output / rel}")
    metrics = rec["metrics"]
    if metrics.get("initialLoss") is not None and metrics.get("finalLoss") is not None:
        echo(f"  loss: {metrics['initialLoss']:.3f} -> {metrics['finalLoss']:.3f} over {metrics['steps']} steps")
    if metrics.get("quality"):
        from .backends.quality import table  # numpy only; no ML library

        reference = metrics.get("reference") or {}
        if reference.get("perplexity") is not None:
            echo(f"  unquantized perplexity: {reference['perplexity']:.3f} on {reference.get('tokens')} tokens")
        for line in table(metrics["quality"]):
            echo(f"  {line}")
    sample = metrics.get("sample")
    if sample:
        first = next(iter(rec["artifacts"].values()), "the model")
        echo(f"  sample from {rec['artifacts'].get('model', first)}:")
        echo(f"    > {sample['prompt']}")
        echo(f"    {sample['completion']}")
    echo(f"  record: {outcome.output / OUTPUT_RECORD}  log: {outcome.log}")


if __name__ == "__main__":
    main()
