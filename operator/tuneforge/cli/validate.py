"""`tuneforge validate`: every problem of every document, offline, each with its field."""

from __future__ import annotations

import sys

import click

from ..api.manifest import Document, load_file, load_text
from . import main


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

    from ..backends import backend_for
    from ..sources import SourceError, reachable_config

    def config(source):
        path = reachable_config(source)
        return None if path is None else json.loads(path.read_text())

    if doc.resource is None:  # invalid: its problems are reported already
        return []
    try:
        return list(backend_for(doc.resource).offline_checks(doc.resource, config))
    except (SourceError, OSError, ValueError):
        return []
