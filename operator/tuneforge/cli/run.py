"""`tuneforge run`: a manifest's jobs on this machine, in order, as pods would run them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..api.manifest import Document, load_file, parse
from ..contract import EXIT_GATE_FAILED, EXIT_INVALID, OUTPUT_RECORD, REMOTE_SCHEMES
from . import main
from .documents import apply_overrides


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

    docs = apply_overrides(load_file(file), assignments)
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
        if outcome.code == EXIT_GATE_FAILED:
            _gate_failed(outcome, step, [f"{d.raw['kind']}/{d.raw['metadata']['name']}" for d in docs[number:]])
            sys.exit(EXIT_GATE_FAILED)
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
    from ..worker.outputs import output_dir

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


def _gate_failed(outcome, step: str, later: list[str]) -> None:
    """A gate missed: the output stays, the pipeline stops before anything could use it."""
    from ..worker import record

    gate = record.read(outcome.output)["metrics"]["gate"]
    missed = gate["message"].removeprefix("gate failed: ")
    click.echo(f"{step}{outcome.kind}/{outcome.name}: GateFailed: {missed}", err=True)
    click.echo(f"  kept, marked as not passed: {outcome.output} (its record holds every check)", err=True)
    if later:
        click.echo(f"  not started: {', '.join(later)} (they come after a failed gate)", err=True)


def _failed(outcome, step: str, file: str, done: dict[tuple[str, str], Path], assignments: tuple[str, ...],
            output: Path | None) -> None:
    """Which step failed, the end of its log, what is kept, and the command that resumes."""
    import os
    import shlex

    from .. import crash

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


def _summary(outcome, echo=click.echo, step: str = "") -> None:
    from ..worker import record

    rec = record.read(outcome.output)
    minutes, seconds = divmod(int(outcome.seconds), 60)
    echo(f"{step}{outcome.kind}/{outcome.name}: done in {minutes}m{seconds:02d}s -> {outcome.output}")
    for name, rel in rec["artifacts"].items():
        echo(f"  {name}: {outcome.output / rel}")
    metrics = rec["metrics"]
    if metrics.get("initialLoss") is not None and metrics.get("finalLoss") is not None:
        echo(f"  loss: {metrics['initialLoss']:.3f} -> {metrics['finalLoss']:.3f} over {metrics['steps']} steps")
    if metrics.get("quality"):
        from ..backends.quality import table  # numpy only; no ML library

        reference = metrics.get("reference") or {}
        if reference.get("perplexity") is not None:
            echo(f"  unquantized perplexity: {reference['perplexity']:.3f} on {reference.get('tokens')} tokens")
        if reference.get("note"):
            echo(f"  reference: {reference['note']}")
        for line in table(metrics["quality"]):
            echo(f"  {line}")
    gate = metrics.get("gate")
    if gate:
        shown = ", ".join(f"{c.get('subject', '') + ' ' if c.get('subject') else ''}{c['measured']} {c['value']:g}"
                          for c in gate["checks"][:6])
        echo(f"  gate: passed ({shown})")
    sample = metrics.get("sample")
    if sample:
        first = next(iter(rec["artifacts"].values()), "the model")
        echo(f"  sample from {rec['artifacts'].get('model', first)}:")
        echo(f"    > {sample['prompt']}")
        echo(f"    {sample['completion']}")
    echo(f"  record: {outcome.output / OUTPUT_RECORD}  log: {outcome.log}")
