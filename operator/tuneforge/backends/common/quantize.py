"""The parts every quantizer repeats: its scratch folder, the check that the model is an HF folder,
and calibration and evaluation rows cut from one dataset when both name the same one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import InputError
from .rows import text_rows

WORK = ".work"  # scratch under the output (unquantized files, references), kept across retries, removed when done


def hf_config(model_dir: Path, source, needs: str) -> dict[str, Any]:
    """The model's config.json; a folder without one is refused, naming what needs it."""
    path = model_dir / "config.json"
    if not path.is_file():
        raise InputError(f"spec.model: {source.describe()} has no config.json; {needs} needs an HF model folder")
    return json.loads(path.read_text())


def calibration_and_evaluation(calibrate, calibrate_field: str, evaluation, used_for: str
                               ) -> tuple[list[str], list[str], str | None]:
    """(calibration texts, evaluation texts, note). When both come from one dataset they are its two
    disjoint halves, and the note says so (`used_for`: what the first half did)."""
    held = text_rows(evaluation.dataset, "evaluation.dataset") if evaluation.enabled else []
    if calibrate is not None and evaluation.enabled and calibrate.uri == evaluation.dataset.uri:
        half = len(held) // 2
        return held[:half], held[half:], f"second half of the rows; the first half {used_for}"
    return (text_rows(calibrate, calibrate_field) if calibrate is not None else []), held, None
