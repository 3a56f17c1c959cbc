"""Text rows for calibration and evaluation: an error names the field the rows came from."""

import json

import pytest

from tuneforge.api.sources import DatasetSource
from tuneforge.backends.common.rows import DatasetError, text_rows


@pytest.mark.parametrize("field", ["evaluation.dataset", "awq.dataset", "gguf.imatrix.dataset"])
def test_a_dataset_without_text_names_the_field_it_came_from(tmp_path, field):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(DatasetError) as err:
        text_rows(DatasetSource(uri=f"file://{rows}", format="text"), field)
    assert str(err.value).startswith(f"{field}.format: file://{rows} is declared as text, which needs column(s) text")
