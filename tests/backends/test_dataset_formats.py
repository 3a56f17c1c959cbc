"""Every dataset format and file type: column checks before training, and real short runs."""

import json

import pytest
from support.run import learned, run_example

from tuneforge.backends.common.rows import DatasetError, load_rows


def rows_of(fmt: str) -> list[dict]:
    if fmt == "instruction":
        return [{"prompt": f"What is {a} + {a}?", "completion": f" {a} + {a} = {2 * a}."} for a in range(2, 60)]
    if fmt == "text":
        return [{"text": f"The number {a} doubled is {2 * a}, and {a} squared is {a * a}."} for a in range(2, 60)]
    raise AssertionError(fmt)


def write(path, rows, kind):
    import pandas as pd

    frame = pd.DataFrame(rows)
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif kind == "json":
        path.write_text(json.dumps(rows))
    elif kind == "parquet":
        frame.to_parquet(path)
    elif kind == "csv":
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "json", "parquet", "csv"])
def test_every_file_type_loads(tmp_path, kind):
    path = write(tmp_path / f"rows.{kind}", rows_of("text"), kind)
    rows = load_rows(path, "text", f"file://{path}", seed=1, max_samples=10)
    assert rows.column_names == ["text"] and len(rows) == 10


def test_a_folder_of_files_loads_together(tmp_path):
    for i in range(3):
        write(tmp_path / f"part-{i}.jsonl", rows_of("instruction")[i * 10:(i + 1) * 10], "jsonl")
    rows = load_rows(tmp_path, "instruction", f"file://{tmp_path}", seed=1)
    assert len(rows) == 30 and rows.column_names == ["prompt", "completion"]


@pytest.mark.parametrize(
    "fmt, rows, message",
    [
        ("chat", [{"text": "x"}], "declared as chat, which needs column(s) messages; the file has: text"),
        ("instruction", [{"prompt": "x"}], "declared as instruction, which needs column(s) completion; the file has: prompt"),
        ("preference", [{"prompt": "p", "chosen": "c"}], "declared as preference, which needs column(s) rejected"),
        ("text", [{"content": "x"}], "declared as text, which needs column(s) text; the file has: content"),
        ("unpaired", [{"prompt": "p", "completion": "c"}], "declared as unpaired, which needs column(s) label"),
        ("verifiable", [{"prompt": "p", "solution": "4"}], "declared as verifiable, which needs column(s) answer; "
                                                           "the file has: prompt, solution"),
        ("unpaired", [{"prompt": "p", "completion": "c", "label": True}, {"prompt": "p", "completion": "d", "label": "no"}],
         "unpaired rows need a boolean label (true for a desirable completion, false for an undesirable one); "
         "row 2 of file://.* has 'no'"),
        ("unpaired", [{"prompt": "p", "completion": "c", "label": True}] * 3,
         "every row of file://.* has label True; KTO needs desirable and undesirable completions"),
    ],
)
def test_missing_columns_are_named(tmp_path, fmt, rows, message):
    path = write(tmp_path / "rows.jsonl", rows, "jsonl")
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".*", "[^ ]*")):
        load_rows(path, fmt, f"file://{path}", seed=1)


def test_mixed_or_unknown_files_are_refused(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "b.csv").write_text("a\n1\n")
    with pytest.raises(DatasetError, match="mixes or lacks known file types"):
        load_rows(tmp_path, "text", f"file://{tmp_path}", seed=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no .jsonl, .json, .parquet or .csv files"):
        load_rows(empty, "text", f"file://{empty}", seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("fmt, kind", [("instruction", "parquet"), ("text", "csv")])
def test_short_real_run(root, tmp_path, fmt, kind):
    path = write(tmp_path / f"rows.{kind}", rows_of(fmt), kind)
    out = tmp_path / "out"
    run_example(root, "finetune-lora-local.yaml", out, f"spec.dataset.uri=file://{path}", f"spec.dataset.format={fmt}",
                "spec.training.maxSteps=5", "spec.training.maxLength=64", "spec.output.mergeAdapter=false")
    assert learned(out)


def test_named_validation_split_from_a_folder(tmp_path):
    from tuneforge.api.sources import DatasetSource
    from tuneforge.backends.common.rows import load_splits

    write(tmp_path / "train.jsonl", rows_of("text")[:40], "jsonl")
    write(tmp_path / "validation.jsonl", rows_of("text")[40:], "jsonl")
    source = DatasetSource(uri=f"file://{tmp_path}", format="text", validation_split="validation")
    train, held = load_splits(tmp_path, source, seed=1)
    assert (len(train), len(held)) == (40, 18)
    missing = DatasetSource(uri=f"file://{tmp_path}", format="text", validation_split="test")
    with pytest.raises(DatasetError, match=r"dataset.validationSplit: no file named test.\* \(or folder test/\)"):
        load_splits(tmp_path, missing, seed=1)


def test_validation_fraction_holds_rows_out(tmp_path):
    from tuneforge.api.sources import DatasetSource
    from tuneforge.backends.common.rows import load_splits

    path = write(tmp_path / "rows.jsonl", rows_of("text"), "jsonl")
    train, held = load_splits(path, DatasetSource(uri=f"file://{path}", format="text", validation_fraction=0.25), seed=1)
    assert len(held) == 15 and len(train) + len(held) == 58
