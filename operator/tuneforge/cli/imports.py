"""`tuneforge import axolotl|llama-factory FILE`: print a FineTuneJob for a peer's config; every field
that has no tuneforge equivalent is listed on stderr with the reason, and the manifest printed is
checked as `tuneforge validate` checks it."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from ..api.manifest import parse
from . import main
from .importers.common import API, job_name


@main.group(name="import")
def import_() -> None:
    """Print a FineTuneJob manifest for an Axolotl or LLaMA-Factory config."""


def _options(command):
    command = click.option("--gpus", type=click.IntRange(0, 64), default=1, show_default=True,
                           help="resources.gpus (the peers train on GPUs; 0 for a CPU run)")(command)
    command = click.option("--name", help="metadata.name (default: the file's name)")(command)
    command = click.option("--output", "output_uri", help="spec.output.uri (hf://, s3://, oci://, pvc://, file://)")(command)
    return click.argument("file", type=click.Path(exists=True, dir_okay=False))(command)


@import_.command()
@_options
def axolotl(file: str, name: str | None, output_uri: str | None, gpus: int) -> None:
    """An Axolotl config (YAML)."""
    from .importers import axolotl as peer

    source = Path(file)
    _emit(peer.convert(_read(source), source.parent.resolve()), source, name, output_uri, gpus)


@import_.command(name="llama-factory")
@_options
@click.option("--dataset-dir", type=click.Path(file_okay=False, exists=True),
              help="The folder with dataset_info.json (default: the config's dataset_dir, else ./data beside it)")
def llama_factory(file: str, name: str | None, output_uri: str | None, gpus: int, dataset_dir: str | None) -> None:
    """A LLaMA-Factory training config (YAML)."""
    from .importers import llama_factory as peer

    source = Path(file)
    folder = Path(dataset_dir).resolve() if dataset_dir else None
    _emit(peer.convert(_read(source), source.parent.resolve(), folder), source, name, output_uri, gpus)


def _read(source: Path) -> dict:
    try:
        config = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{source}: not YAML: {exc}") from None
    if not isinstance(config, dict):
        raise click.ClickException(f"{source}: a config is a mapping of settings, got {type(config).__name__}")
    return config


def _emit(reader, source: Path, name: str | None, output_uri: str | None, gpus: int) -> None:
    if output_uri:
        reader.put("output.uri", output_uri)
    if gpus:
        reader.put("resources.gpus", gpus)
    doc = {"apiVersion": API, "kind": "FineTuneJob", "metadata": {"name": job_name(name, source)}, "spec": reader.spec}
    click.echo(f"# tuneforge import of {source.name}; fields with no tuneforge equivalent are listed on stderr")
    click.echo(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120), nl=False)
    for line in [*reader.notes, *reader.leftovers()]:
        click.echo(f"{source.name}: {line}", err=True)
    _, issues = parse(doc)
    if issues:
        for issue in issues:
            click.echo(f"{source.name}: the manifest does not validate: {issue.line()}", err=True)
        sys.exit(1)
