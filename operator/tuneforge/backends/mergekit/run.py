"""Merging inside the worker: resolve every model, check they fit together, run mergekit, record."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from ... import sources
from ...worker import record
from ...api.merge import MergeJob
from ...errors import InputError
from ...worker.progress import Reporter
from ..sampling import maybe_sample
from . import compat
from .plan import merge_options, mergekit_config


def run(job: MergeJob, raw: dict[str, Any], output: Path, reporter: Reporter) -> dict[str, Any]:
    import torch
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    spec = job.spec
    paths = {source.describe(): sources.resolve_model(source) for source in spec.inputs()}
    configs = {key: json.loads((p / "config.json").read_text()) for key, p in paths.items() if (p / "config.json").is_file()}
    found = compat.problems(spec, configs)
    if found:
        raise InputError("; ".join(issue.line() for issue in found))

    config = mergekit_config(spec, lambda source: str(paths[source.describe()]))
    cuda = spec.resources.gpus > 0 and torch.cuda.is_available()
    reporter.progress(0, 1, force=True)
    started = time.monotonic()
    target = output / "model"
    try:
        run_merge(MergeConfiguration.model_validate(config), str(target), options=MergeOptions(**merge_options(spec, cuda)))
    except (ValueError, TypeError, RuntimeError) as exc:
        if not _refused_by_mergekit(exc) or isinstance(exc, torch.OutOfMemoryError):
            raise
        # Validation refuses what it knows mergekit refuses; this is the rest, said without a traceback.
        raise InputError(f"mergekit refused this merge: {exc}") from None
    seconds = time.monotonic() - started
    # Beside the model, mergekit's own configuration as it ran, for reproducing the merge without tuneforge.
    (output / "mergekit_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    reporter.progress(1, 1, force=True)

    merged_config = json.loads((target / "config.json").read_text())
    metrics: dict[str, Any] = {
        "mergeSeconds": round(seconds, 1),
        "layers": merged_config.get("num_hidden_layers"),
        "sample": maybe_sample(spec.output.sample, target),
    }
    inputs = {key: {"path": str(p)} for key, p in paths.items()}
    return record.write(output, raw, inputs, {"model": "model", "mergekitConfig": "mergekit_config.yml"}, metrics,
                        libraries=("torch", "transformers", "mergekit"))


def _refused_by_mergekit(exc: BaseException) -> bool:
    """Raised inside mergekit itself (its checks of a configuration), not in torch or our code."""
    if type(exc).__name__ == "ValidationError":  # pydantic, reading mergekit's configuration model
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "/mergekit/" in tb.tb_frame.f_code.co_filename
