"""HF safetensors folder -> unquantized GGUF with llama.cpp's own converter.

The converter is a script from the llama.cpp source that llama-cpp-python was compiled from
(scripts/llama-cpp.sh puts it under <prefix>/share/tuneforge/llama.cpp). It runs as its own process
with its own gguf-py first on the path: that gguf-py is newer than the PyPI `gguf` transformers uses
in this process, and the two must not be mixed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ...errors import InputError

CONVERTER_ENV = "TUNEFORGE_LLAMA_CPP_CONVERTER"


def converter_dir() -> Path:
    found = Path(os.environ.get(CONVERTER_ENV) or Path(sys.prefix) / "share" / "tuneforge" / "llama.cpp")
    if not (found / "convert_hf_to_gguf.py").is_file():
        raise FileNotFoundError(
            f"llama.cpp's convert_hf_to_gguf.py is not in {found}; install llama-cpp-python with "
            f"scripts/llama-cpp.sh (or set {CONVERTER_ENV})"
        )
    return found


def command(model: Path, outfile: Path, outtype: str) -> list[str]:
    return [sys.executable, str(converter_dir() / "convert_hf_to_gguf.py"), str(model),
            "--outfile", str(outfile), "--outtype", outtype]


def convert(model: Path, outfile: Path, outtype: str, log) -> None:
    """Write `outfile` (atomically: a failed conversion leaves nothing that looks finished)."""
    partial = outfile.with_name(outfile.name + ".partial")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(converter_dir() / "gguf-py"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(command(model, partial, outtype), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    log(proc.stdout)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        last = [line for line in proc.stdout.splitlines() if line.strip()][-3:]
        reason = " | ".join(last) or f"exit {proc.returncode}"
        if "not supported" in proc.stdout:  # the converter's words for an unknown architecture
            raise InputError(f"spec.model: llama.cpp cannot convert this model: {reason}")
        raise RuntimeError(f"convert_hf_to_gguf.py failed: {reason}")
    partial.rename(outfile)
