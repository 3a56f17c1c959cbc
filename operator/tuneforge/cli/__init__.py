"""The `tuneforge` command: run, validate, import, crds, operator, warm (one module per verb)."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tuneforge")
def main() -> None:
    """Fine-tune, quantize and merge LLMs: on Kubernetes, or locally with the same manifests."""
    # Commands: run, validate, import, crds, operator, warm (the test suite's worker starts).


# The verbs register themselves on `main`.
from . import crds, imports, operator, run, validate, warm_server  # noqa: E402,F401
