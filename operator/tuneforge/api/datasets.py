"""A FineTuneJob's training data: `dataset` (one) or `datasets` (a list, mixed by weight), and the
rules that hold across the entries."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from .base import Issue, Optional
from .columns import CANONICAL
from .sources import DatasetSource

MAX_DATASETS = 32


class TrainingDataset(DatasetSource):
    """A dataset to train on; in a list, how much of the mix it makes."""

    weight: Optional[float] = Field(default=None, gt=0, le=1000)
    """Its share of the mixed training rows, relative to the other entries' weights (datasets only).
    Without weights every row of every dataset is used; with them, each dataset gives rows in
    proportion to its weight, as many as the scarcest allows, none twice."""


def entries(dataset: TrainingDataset | None, datasets: list[TrainingDataset] | None) -> list[tuple[str, TrainingDataset]]:
    """(field path, entry) for each dataset the spec names."""
    if dataset is not None:
        return [("dataset", dataset)]
    return [(f"datasets[{i}]", d) for i, d in enumerate(datasets or [])]


def problems(dataset: TrainingDataset | None, datasets: list[TrainingDataset] | None) -> Iterator[Issue]:
    if dataset is None and not datasets:
        yield Issue("dataset", "a FineTuneJob needs training data: dataset (one) or datasets (a list)")
        return
    if dataset is not None and datasets is not None:
        yield Issue("datasets", "set dataset (one) or datasets (a list), not both")
        return
    if dataset is not None and dataset.weight is not None:
        yield Issue("dataset.weight", "weight sets a share of a mix: it applies to entries of datasets (a list)")
    listed = entries(dataset, datasets)
    weighted = [path for path, d in listed if d.weight is not None]
    if weighted and len(weighted) != len(listed):
        missing = next(path for path, d in listed if d.weight is None)
        yield Issue(f"{missing}.weight", "either every entry of datasets has a weight or none does "
                                         f"({len(weighted)} of {len(listed)} have one)")
    first_path, first = listed[0]
    shape = CANONICAL[first.format]
    for path, d in listed[1:]:
        if CANONICAL[d.format] != shape:
            becomes = d.format if d.format == CANONICAL[d.format] else f"{d.format} (which becomes {CANONICAL[d.format]})"
            yield Issue(f"{path}.format", f"{becomes} rows cannot be mixed with {first_path}'s {shape} rows: one mix "
                                          "trains on one shape (chat, alpaca and sharegpt rows mix)")
