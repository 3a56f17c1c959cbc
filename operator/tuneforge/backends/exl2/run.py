"""EXL2/EXL3 inside the worker: calibration file, converter processes (resumable), record, quality."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ... import sources
from ...worker import record
from ...api.quantize import QuantizeJob
from ...errors import InputError
from ...worker.progress import Reporter
from ..common.naming import model_stem
from ..common.rows import text_rows
from ..quality import PLOT_FILE, plot
from .plan import MEASUREMENT_FILE, WORK, calibration_file, resume_flag, steps


def write_calibration(method: str, texts: list[str], model_dir: Path, target: Path, rows: int, length: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if method == "exl2":
        import pandas

        pandas.DataFrame({"text": texts}).to_parquet(target)
        return
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(model_dir)("\n\n".join(texts), add_special_tokens=False)["input_ids"]
    usable = min(rows, len(ids) // length)
    if usable == 0:
        raise InputError(f"{method}.dataset: fewer than {length} tokens of text; lower calibrationLength")
    save_file({"input_ids": torch.tensor(ids[: usable * length]).reshape(usable, length)}, str(target))


def run_step(command: tuple[str, ...]) -> None:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(line)
        tail = (tail + [line.rstrip()])[-5:]
    if proc.wait() != 0:
        raise RuntimeError(f"{command[2]} failed (exit {proc.returncode}): {' | '.join(tail)}")


def run(job: QuantizeJob, raw: dict[str, Any], output: Path, reporter: Reporter) -> dict[str, Any]:
    import torch

    spec, method = job.spec, job.spec.method
    if not torch.cuda.is_available():
        raise InputError(f"spec.resources.gpus: {method} converts on a CUDA GPU and none is visible here")
    s = spec.settings()
    model_dir = sources.resolve_model(spec.model)
    texts = text_rows(s.dataset, f"{method}.dataset")
    cal = output / calibration_file(method)
    if not cal.exists():
        write_calibration(method, texts, model_dir, cal, s.calibration_rows, s.calibration_length)
    stem = model_stem(spec.model.uri)
    plan = steps(method, s, model_dir, output, stem)
    reporter.progress(0, len(plan) + 1, force=True)
    for i, step in enumerate(plan):
        final = output / step.produces
        if not final.exists():
            if step.partial is None:
                run_step(step.command)
            else:
                # The converter writes into a scratch folder that becomes the output only when complete.
                shutil.rmtree(output / step.partial, ignore_errors=True)
                run_step((*step.command, *resume_flag(method, output / step.work)))
                (output / step.partial).rename(final)
        reporter.progress(i + 1, len(plan) + 1, force=True, stage=step.name)

    rows = []
    for step in plan:
        if step.name == "measure":
            continue
        folder = output / step.produces
        size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        rows.append({"type": step.produces.removeprefix(f"{stem}-"), "file": step.produces, "sizeBytes": size})
    reference = measure(method, spec, model_dir, output, rows) if spec.evaluation.enabled else {}
    reporter.progress(len(plan) + 1, len(plan) + 1, force=True)
    shutil.rmtree(output / WORK, ignore_errors=True)
    artifacts = {row["type"]: row["file"] for row in rows}
    if method == "exl2":
        artifacts["measurement"] = MEASUREMENT_FILE
    if plot(rows, output / PLOT_FILE, f"{stem}: {method} size and perplexity", reference):
        artifacts["qualityPlot"] = PLOT_FILE
    metrics = {"quality": rows, "reference": reference, "headBits": s.head_bits}
    inputs = {"model": {"source": spec.model.describe(), "path": str(model_dir)}}
    library = "exllamav2" if method == "exl2" else "exllamav3"
    return record.write(output, raw, inputs, artifacts, metrics, libraries=("torch", "transformers", library),
                        skip=(WORK,))


def measure(method: str, spec, model_dir: Path, output: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Quality against the HF model; a failure here is recorded, the converted folders stay valid."""
    from ..hf_quality import reference_table
    from .logits import LOADERS

    ev = spec.evaluation
    texts = text_rows(ev.dataset, "evaluation.dataset")
    table, reference = reference_table(model_dir, "\n\n".join(texts), min(512, ev.max_tokens), ev.max_tokens,
                                       output / WORK / "reference.npy")
    for row in rows:
        row["bitsPerWeight"] = round(row["sizeBytes"] * 8 / reference["parameters"], 3)
        try:
            row.update(table.measure(LOADERS[method](output / row["file"])))
        except Exception as exc:  # exllama's loaders raise many kinds; the conversion itself succeeded
            row["evaluationError"] = f"{type(exc).__name__}: {exc}"
    return reference
