"""Load training rows and check they match the declared format before any training starts."""

from __future__ import annotations

from pathlib import Path

from ...errors import InputError

REQUIRED_COLUMNS = {
    "chat": ("messages",),
    "instruction": ("prompt", "completion"),
    "preference": ("prompt", "chosen", "rejected"),
    "text": ("text",),
}
LOADERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class DatasetError(InputError):
    """A dataset that does not match its spec; the message names the problem and the field."""


def data_files(path: Path) -> tuple[str, list[str]]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in LOADERS)
    if not files:
        raise DatasetError(f"dataset.uri: no .jsonl, .json, .parquet or .csv files under {path}")
    kinds = {LOADERS.get(f.suffix) for f in files}
    if None in kinds or len(kinds) > 1:
        raise DatasetError(
            f"dataset.uri: {path} mixes or lacks known file types; use one of {', '.join(LOADERS)}"
        )
    return kinds.pop(), [str(f) for f in files]


def load_rows(path: Path, fmt: str, uri: str, seed: int, max_samples: int | None = None):
    import datasets

    loader, files = data_files(path)
    try:
        rows = datasets.load_dataset(loader, data_files=files, split="train")
    except Exception as exc:  # datasets raises many types for unreadable files
        raise DatasetError(f"dataset.uri: cannot read {uri}: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS[fmt] if c not in rows.column_names]
    if missing:
        raise DatasetError(
            f"dataset.format: {uri} is declared as {fmt}, which needs column(s) {', '.join(missing)}; "
            f"the file has: {', '.join(rows.column_names) or 'no columns'}"
        )
    if len(rows) == 0:
        raise DatasetError(f"dataset.uri: {uri} has no rows")
    rows = rows.shuffle(seed=seed)
    if max_samples is not None:
        rows = rows.select(range(min(max_samples, len(rows))))
    return rows.select_columns(list(REQUIRED_COLUMNS[fmt]))


def split(rows, validation_fraction: float | None, seed: int):
    if not validation_fraction:
        return rows, None
    parts = rows.train_test_split(test_size=validation_fraction, seed=seed)
    return parts["train"], parts["test"]
