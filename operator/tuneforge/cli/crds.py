"""`tuneforge crds`: the CRDs and the API reference rendered from the types (or checked)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import main


@main.command()
@click.option("--check", is_flag=True, help="Exit 1 if the committed CRDs differ from the API (or are not structural).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Repository root holding crds/ and charts/tuneforge/crds/.")
def crds(check: bool, root: Path) -> None:
    """Write the CRDs rendered from the API types into crds/ and charts/tuneforge/crds/, and their
    reference page docs/api.md."""
    from ..codegen import apidocs
    from ..codegen import crds as render

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
