"""One llama.cpp quantization: unquantized GGUF -> GGUF of one file type, in process."""

from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from . import fallback
from .imatrix import Imatrix
from .plan import Target


def threads() -> int:
    from ...cpus import worker_threads

    return worker_threads()


def quantize(base: Path, target: Target, out: Path, imatrix: Imatrix | None) -> dict:
    """Write `out` atomically; llama.cpp's refusal (e.g. a missing imatrix) becomes a clear error.
    Returns which tensors fell back to another type (fallback.parse)."""
    import llama_cpp

    ftype = getattr(llama_cpp, target.ftype, None)
    if ftype is None:
        raise InputError(f"gguf.types: {target.type} is not known to llama-cpp-python {llama_cpp.__version__}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads()
    if imatrix is not None:
        params.imatrix = imatrix.as_ctypes()
    partial = out.with_name(out.name + ".partial")
    with fallback.stderr_lines() as lines:
        code = llama_cpp.llama_model_quantize(str(base).encode(), str(partial).encode(), params)
    if code != 0:
        partial.unlink(missing_ok=True)
        hint = " (this type needs an importance matrix: set gguf.imatrix)" if imatrix is None else ""
        raise RuntimeError(f"llama_model_quantize to {target.type} failed (code {code}){hint}; see the log above")
    partial.rename(out)
    return fallback.parse(lines)
