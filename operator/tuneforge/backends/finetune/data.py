"""The training rows of a FineTuneJob: each dataset read and checked in its own format, then mixed
(every row, or by weight), deterministically for the seed; the record says what came from each."""

from __future__ import annotations

import math
from typing import Any

from ... import sources
from ..common.rows import DatasetError, load_splits


def training_rows(spec) -> tuple[Any, Any, list[dict[str, Any]]]:
    """(training rows, evaluation rows or None, what was taken from each dataset)."""
    seed, listed = spec.training.seed, spec.data()
    trains, evals, report = [], [], []
    for path, entry in listed:
        stats: dict[str, Any] = {}
        train, evaluation = load_splits(sources.resolve_dataset(entry), entry, seed, field=path, report=stats)
        trains.append(train)
        evals.append(evaluation)
        report.append({**entry.wire(), **stats})
    counts = shares([len(t) for t in trains], [entry.weight for _, entry in listed])
    total = sum(counts)
    for entry, count in zip(report, counts):
        entry.update(taken=count, share=round(count / total, 4))
    train = _joined([t.select(range(c)) for t, c in zip(trains, counts)], [p for p, _ in listed], seed)
    held = [(e, p) for e, (p, _) in zip(evals, listed) if e is not None]
    evaluation = _joined([e for e, _ in held], [p for _, p in held], seed) if held else None
    return train, evaluation, report


def shares(available: list[int], weights: list[float | None]) -> list[int]:
    """Rows to take from each dataset: all of them without weights; with weights, in proportion to
    them and as many as the scarcest dataset allows (no row is taken twice)."""
    if len(available) == 1 or weights[0] is None:
        return list(available)
    total = sum(weights)
    scale = min(n / (w / total) for n, w in zip(available, weights))
    return [max(1, min(n, math.floor(scale * w / total + 1e-9))) for n, w in zip(available, weights)]


def _joined(parts: list[Any], paths: list[str], seed: int):
    """One dataset of all parts, shuffled with the seed (rows were drawn from each with the same seed)."""
    import datasets

    if len(parts) == 1:
        return parts[0]
    first = parts[0].features
    same = []
    for part, path in zip(parts, paths):
        try:
            same.append(part if part.features == first else part.cast(first))
        except (ValueError, TypeError) as exc:
            raise DatasetError(f"{path}: its rows cannot be mixed with {paths[0]}'s (one holds plain text where the "
                               f"other holds messages, or the fields differ): {exc}") from None
    return datasets.concatenate_datasets(same).shuffle(seed=seed)
