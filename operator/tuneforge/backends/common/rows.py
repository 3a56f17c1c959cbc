"""Dataset rows for any backend (training, calibration, evaluation), checked against the declared
format before any model is loaded."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ...api.columns import CANONICAL, OPTIONAL_FIELDS, ColumnMapping
from ...errors import InputError
from .row_shapes import FORMAT_FIELDS, RowProblem, reshape, source_fields

SHOWN = 5  # rows named in a message about rows that do not fit
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


def load_splits(path: Path, source, seed: int, field: str = "dataset", report: dict[str, Any] | None = None):
    """(train, eval) rows: eval from the named split's files, or a held-out fraction, or none."""
    fmt, uri = source.format, source.uri
    read = dict(field=field, columns=source.columns)
    if source.validation_split:
        if path.is_file():
            raise DatasetError(f"{field}.validationSplit: {uri} is one file; name a folder with "
                               f"{source.validation_split}.* files or use validationFraction")
        name = source.validation_split
        if not any(p.suffix in LOADERS and _in_split(p, path, name) for p in path.rglob("*")):
            raise DatasetError(f"{field}.validationSplit: no file named {name}.* (or folder {name}/) under {uri}")
        train = load_rows(path, fmt, uri, seed, source.max_samples, split_name=name, report=report, **read)
        evaluation = load_rows(path, fmt, uri, seed, split_name=name, held_out=True, **read)
        return train, evaluation
    return split(load_rows(path, fmt, uri, seed, source.max_samples, report=report, **read), source.validation_fraction, seed)


def load_rows(path: Path, fmt: str, uri: str, seed: int, max_samples: int | None = None,
              split_name: str | None = None, held_out: bool = False, field: str = "dataset",
              columns: ColumnMapping | None = None, report: dict[str, Any] | None = None):
    """The rows of a dataset file or folder in their canonical format's shape; errors name `field`,
    the spec path the caller read it from. `report` (when given) receives how many rows were read,
    skipped and why."""
    import datasets

    loader, files = data_files(path, split_name, held_out, field)
    try:
        rows = datasets.load_dataset(loader, data_files=files, split="train")
    except Exception as exc:  # datasets raises many types for unreadable files
        raise DatasetError(f"{field}.uri: cannot read {uri}: {exc}") from exc
    columns = columns or ColumnMapping()
    _check_columns(rows.column_names, fmt, columns, uri, field)
    if len(rows) == 0:
        raise DatasetError(f"{field}.uri: {uri} has no rows")
    canonical = CANONICAL[fmt]
    if canonical == "unpaired":  # before reshaping: a label is never guessed at, nor its row dropped
        _check_labels(rows[columns.field("label", fmt)], uri, field)
    rows = _reshaped(rows, fmt, columns, uri, field, report if report is not None else {})
    rows = rows.shuffle(seed=seed)
    if max_samples is not None:
        rows = rows.select(range(min(max_samples, len(rows))))
    # The canonical format's own fields (a system field is folded into the prompt by reshape).
    return rows.select_columns([k for k in FORMAT_FIELDS[canonical] if k not in OPTIONAL_FIELDS])


def _check_columns(names: list[str], fmt: str, columns: ColumnMapping, uri: str, field: str) -> None:
    """A field that no row has is a mistake in the spec, reported before any row is read."""
    wanted = {key: name for key, name in source_fields(fmt, columns).items() if key not in OPTIONAL_FIELDS}
    has = ", ".join(names) or "no columns"
    for key, name in wanted.items():
        if getattr(columns, key) and name not in names:
            raise DatasetError(f"{field}.columns.{key}: {uri} has no column '{name}'; the file has: {has}")
    missing = [name for name in wanted.values() if name not in names]
    if missing:
        raise DatasetError(f"{field}.format: {uri} is declared as {fmt}, which needs column(s) {', '.join(missing)}; "
                           f"the file has: {has}")


def _reshaped(rows, fmt: str, columns: ColumnMapping, uri: str, field: str, report: dict[str, Any]):
    """Each row in its canonical shape. Rows that do not fit are left out and reported (the first few
    by number); when more than half do not fit, the format or the mapping is wrong: stop."""
    import datasets

    report.update(rows=len(rows), skipped=0)
    if fmt == "text":  # calibration text can be large: one rename instead of a pass over every row
        name = columns.field("text", fmt)
        return rows if name == "text" else rows.rename_column(name, "text")
    good, bad = [], []
    for number, row in enumerate(rows, start=1):
        try:
            good.append(reshape(row, fmt, columns))
        except RowProblem as problem:
            bad.append(f"row {number}: {problem}")
    if bad:
        report.update(skipped=len(bad), skippedRows=bad[:SHOWN])
        listed = "; ".join(bad[:SHOWN]) + ("; ..." if len(bad) > SHOWN else "")
        if len(bad) * 2 > len(rows):
            raise DatasetError(f"{field}: {len(bad)} of {len(rows)} rows of {uri} do not fit the {fmt} format "
                               f"(check format and columns): {listed}")
        print(f"warning: {field}: {len(bad)} of {len(rows)} rows of {uri} skipped: {listed}", file=sys.stderr, flush=True)
    return datasets.Dataset.from_list(good)


def _check_labels(labels: list[Any], uri: str, field: str) -> None:
    """KTO reads `label` as desirable (true) or not; "yes", 1 or a missing value would be guessed at."""
    for number, label in enumerate(labels, start=1):
        if not isinstance(label, bool):
            raise DatasetError(f"{field}.format: unpaired rows need a boolean label (true for a desirable completion, "
                               f"false for an undesirable one); row {number} of {uri} has {label!r}")
    if len(set(labels)) < 2:
        raise DatasetError(f"{field}.uri: every row of {uri} has label {labels[0]}; KTO needs desirable and "
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

    return list(load_rows(resolve_dataset(source), "text", source.uri, seed=0, field=field, columns=source.columns)["text"])
