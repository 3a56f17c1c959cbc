"""Pure planning for EXL2 (exllamav2) and EXL3 (exllamav3): converter commands, folders, resumption.

Both converters are scripts that need CUDA at import time, so the worker runs them as processes
and everything here (which commands, with which folders) is decided without importing them.
EXL2 measures the model once (`-om measurement.json`) and reuses that for every bitrate (`-m`);
the measurement is kept in the output so a retry, or a later job, skips it. Each bitrate has its
own working directory under .work/, which both converters resume from after an interruption.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ...api.quantize import ExlSettings, QuantizeSpec
from ..worker_plan import WorkerPlan, default_plan

MEASUREMENT_FILE = "measurement.json"
from ..common.quantize import WORK


def plan(spec: QuantizeSpec) -> WorkerPlan:
    return default_plan("exl2", spec.resources.gpus)


def folder_name(stem: str, method: str, bits: float) -> str:
    return f"{stem}-{bits:g}bpw-{method}"


@dataclass(frozen=True)
class Step:
    name: str
    command: tuple[str, ...]
    produces: str  # path relative to the output folder; the step is skipped when it exists
    partial: str | None = None  # where the command writes it (relative); renamed to `produces` once complete
    work: str | None = None  # the converter's resumable working directory (relative)


def calibration_file(method: str) -> str:
    # exllamav2 reads a parquet of text rows; exllamav3 a safetensors of packed token rows.
    return f"{WORK}/calibration.parquet" if method == "exl2" else f"{WORK}/calibration.safetensors"


def steps(method: str, s: ExlSettings, model: Path, output: Path, stem: str, python: str = sys.executable) -> list[Step]:
    cal = str(output / calibration_file(method))
    found = []
    if method == "exl2":
        module = (python, "-m", "exllamav2.conversion.convert_exl2")
        rows = ("-c", cal, "-r", str(s.calibration_rows), "-l", str(s.calibration_length),
                "-mr", str(s.calibration_rows), "-ml", str(s.calibration_length))
        found.append(Step("measure", (*module, "-i", str(model), "-o", str(output / WORK / "measure"),
                                      "-om", str(output / MEASUREMENT_FILE), *rows), MEASUREMENT_FILE))
        for bits in s.bits_per_weight:
            name = folder_name(stem, method, bits)
            partial, work = f"{WORK}/{name}.partial", f"{WORK}/{name}"
            found.append(Step(f"{bits:g} bpw", (
                *module, "-i", str(model), "-o", str(output / work), "-cf", str(output / partial),
                "-b", f"{bits:g}", "-hb", str(s.head_bits), "-m", str(output / MEASUREMENT_FILE), *rows), name, partial, work))
        return found
    module = (python, "-m", "exllamav3.conversion.convert_model")
    for bits in s.bits_per_weight:
        name = folder_name(stem, method, bits)
        partial, work = f"{WORK}/{name}.partial", f"{WORK}/{name}"
        command = (*module, "-i", str(model), "-w", str(output / work), "-o", str(output / partial), "-b", f"{bits:g}",
                   "-hb", str(s.head_bits), "-cd", cal, "-cr", str(s.calibration_rows), "-cc", str(s.calibration_length))
        found.append(Step(f"{bits:g} bpw", command, name, partial, work))
    return found


def resume_flag(method: str, work: Path) -> tuple[str, ...]:
    """exllamav3 resumes only when told to (-r), and only from a working directory it wrote."""
    return ("-r",) if method == "exl3" and (work / "args.json").exists() else ()
