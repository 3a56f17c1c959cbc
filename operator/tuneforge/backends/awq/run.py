"""AWQ and GPTQ inside the worker: calibrate, quantize, write the checkpoint, measure, record."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from ... import sources
from ...worker import record
from ...api.quantize import QuantizeJob
from ...errors import InputError
from ...worker.progress import Reporter
from ..common.quantize import WORK, calibration_and_evaluation, hf_config
from ..quality import PLOT_FILE, plot
from ..sampling import maybe_sample
from .plan import fit_problems



def run(job: QuantizeJob, raw: dict[str, Any], output: Path, reporter: Reporter) -> dict[str, Any]:
    spec, s = job.spec, job.spec.settings()
    model_dir = sources.resolve_model(spec.model)
    found = fit_problems(spec, hf_config(model_dir, spec.model, spec.method))
    if found:
        raise InputError("; ".join(issue.at("spec").line() for issue in found))
    evaluation = spec.evaluation
    calibration, held, note = calibration_and_evaluation(s.dataset, f"{spec.method}.dataset", evaluation,
                                                         "calibrated the quantization")
    engine, total = getattr(s, "engine", "llm-compressor"), 3 if evaluation.enabled else 2
    reporter.progress(0, total, force=True, stage="calibrate")

    target = output / "model"
    started = time.monotonic()
    if target.exists():  # a retry: the half-written checkpoint of the last attempt is not trusted
        shutil.rmtree(target)
    if engine == "autoawq":
        from .autoawq_engine import quantize
    else:
        from .compressor import quantize
    quantize(spec, model_dir, calibration, target)
    seconds = round(time.monotonic() - started, 1)
    reporter.progress(1, total, force=True, stage="quantize")

    size = sum(p.stat().st_size for p in target.glob("*.safetensors"))
    row: dict[str, Any] = {"type": f"{spec.method}-w{s.bits}g{s.group_size}", "file": "model", "sizeBytes": size}
    reference: dict[str, Any] = {}
    if evaluation.enabled:
        from ..hf_quality import measure

        (output / WORK).mkdir(exist_ok=True)
        reference, measured = measure(model_dir, target, "\n\n".join(held), min(512, evaluation.max_tokens),
                                      evaluation.max_tokens, output / WORK / "reference.npy")
        if not reference.get("tokens"):
            raise InputError(f"spec.evaluation.dataset: {evaluation.dataset.uri} has too little text to measure; "
                             "use more text or set evaluation.enabled: false")
        row.update(measured)
        row["bitsPerWeight"] = round(size * 8 / reference["parameters"], 3)
        reporter.progress(2, total, force=True, stage="measure")
    shutil.rmtree(output / WORK, ignore_errors=True)
    sample = maybe_sample(spec.output.sample, target)
    row["sample"] = sample["completion"] if sample else None
    reporter.progress(total, total, force=True)

    artifacts = {"model": "model"}
    if evaluation.enabled and plot([row], output / PLOT_FILE, f"{spec.method} ({engine}): size and perplexity",
                                   reference):
        artifacts["qualityPlot"] = PLOT_FILE
    metrics = {
        "quality": [row],
        "reference": reference,
        "evaluation": {"dataset": evaluation.dataset.uri, "rows": note or "all rows"} if evaluation.enabled else None,
        "engine": engine,
        "quantizeSeconds": seconds,
        "calibrationSamples": min(len(calibration), s.num_samples),
        "sample": sample,
    }
    inputs = {"model": {"source": spec.model.describe(), "path": str(model_dir)}}
    libraries = ("torch", "transformers", "autoawq") if engine == "autoawq" else ("torch", "transformers", "llmcompressor", "compressed-tensors")
    return record.write(output, raw, inputs, artifacts, metrics, libraries=libraries)
