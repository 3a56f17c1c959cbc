"""Dataset rows for any backend (training, calibration, evaluation), checked against the declared
format before any model is loaded."""

from __future__ import annotations

from pathlib import Path

from ...errors import InputError

REQUIRED_COLUMNS = {
    "chat": ("messages",),
    "instruction": ("prompt", "completion"),
    "preference": ("prompt", "chosen", "rejected"),
    "unpaired": ("prompt", "completion", "label"),
    "verifiable": ("prompt", "answer"),
    "text": ("text",),
}
LOADERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class DatasetError(InputError):
    """A dataset that does not match its spec; the message names the problem and the field."""


def data_files(path: Path, split_name: str | None = None, held_out: bool = False,
               field: str = "dataset") -> tuple[str, list[str]]:
    """The files to read: all of them, or without (held_out False) / only (True) the named split's."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in LOADERS)
    if split_name:
        files = [f for f in files if _in_split(f, path, split_name) == held_out]
    if not files:
        raise DatasetError(f"{field}.uri: no .jsonl, .json, .parquet or .csv files under {path}")
    kinds = {LOADERS.get(f.suffix) for f in files}
    if None in kinds or len(kinds) > 1:
        raise DatasetError(
            f"{field}.uri: {path} mixes or lacks known file types; use one of {', '.join(LOADERS)}"
        )
    return kinds.pop(), [str(f) for f in files]


def _in_split(file: Path, root: Path, split_name: str) -> bool:
    """A file belongs to a named split when it or a folder under the root is named after it."""
    rel = file.relative_to(root) if file != root else Path(file.name)
    return any(part.split(".")[0] == split_name or part.startswith(f"{split_name}-") for part in rel.parts)


def load_splits(path: Path, source, seed: int):
    """(train, eval) rows: eval from the named split's files, or a held-out fraction, or none."""
    fmt, uri = source.format, source.uri
    if source.validation_split:
        if path.is_file():
            raise DatasetError(f"dataset.validationSplit: {uri} is one file; name a folder with "
                               f"{source.validation_split}.* files or use validationFraction")
        name = source.validation_split
        if not any(p.suffix in LOADERS and _in_split(p, path, name) for p in path.rglob("*")):
            raise DatasetError(f"dataset.validationSplit: no file named {name}.* (or folder {name}/) under {uri}")
        train = load_rows(path, fmt, uri, seed, source.max_samples, split_name=name)
        evaluation = load_rows(path, fmt, uri, seed, split_name=name, held_out=True)
        return train, evaluation
    return split(load_rows(path, fmt, uri, seed, source.max_samples), source.validation_fraction, seed)


def load_rows(path: Path, fmt: str, uri: str, seed: int, max_samples: int | None = None,
              split_name: str | None = None, held_out: bool = False, field: str = "dataset"):
    """The rows of a dataset file or folder; errors name `field`, the spec path the caller read it from."""
    import datasets

    loader, files = data_files(path, split_name, held_out, field)
    try:
        rows = datasets.load_dataset(loader, data_files=files, split="train")
    except Exception as exc:  # datasets raises many types for unreadable files
        raise DatasetError(f"{field}.uri: cannot read {uri}: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS[fmt] if c not in rows.column_names]
    if missing:
        raise DatasetError(
            f"{field}.format: {uri} is declared as {fmt}, which needs column(s) {', '.join(missing)}; "
            f"the file has: {', '.join(rows.column_names) or 'no columns'}"
        )
    if len(rows) == 0:
        raise DatasetError(f"{field}.uri: {uri} has no rows")
    if fmt == "unpaired":
        _check_labels(rows, uri, field)
    rows = rows.shuffle(seed=seed)
    if max_samples is not None:
        rows = rows.select(range(min(max_samples, len(rows))))
    return rows.select_columns(list(REQUIRED_COLUMNS[fmt]))


def _check_labels(rows, uri: str, field: str) -> None:
    """KTO reads `label` as desirable (true) or not; "yes", 1 or a missing value would be guessed at."""
    for number, label in enumerate(rows["label"], start=1):
        if not isinstance(label, bool):
            raise DatasetError(f"{field}.format: unpaired rows need a boolean label (true for a desirable completion, "
                               f"false for an undesirable one); row {number} of {uri} has {label!r}")
    if len(set(rows["label"])) < 2:
        raise DatasetError(f"{field}.uri: every row of {uri} has label {rows['label'][0]}; KTO needs desirable and "
                           f"undesirable completions")


def split(rows, validation_fraction: float | None, seed: int):
    if not validation_fraction:
        return rows, None
    parts = rows.train_test_split(test_size=validation_fraction, seed=seed)
    return parts["train"], parts["test"]


def text_rows(source, field: str) -> list[str]:
    """The `text` column of a dataset source (calibration and evaluation text for quantization);
    `field` is the spec path it came from, which errors name."""
    from ...sources import resolve_dataset

    return list(load_rows(resolve_dataset(source), "text", source.uri, seed=0, field=field)["text"])
