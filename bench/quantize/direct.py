"""The baseline: llama.cpp's converter script, then llama_cpp.llama_model_quantize for each type.

    python bench/quantize/direct.py MODEL_DIR OUT_DIR TYPE...

What a user would write by hand with the same two tools (the converter from the llama.cpp source
that llama-cpp-python was built from, run as its own process with its own gguf-py).
"""

import os
import subprocess
import sys
from pathlib import Path

import llama_cpp

model, out, types = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
converter = Path(sys.prefix) / "share" / "tuneforge" / "llama.cpp"
out.mkdir(parents=True, exist_ok=True)
base = out / "model-f16.gguf"
env = dict(os.environ, PYTHONPATH=str(converter / "gguf-py"))
subprocess.run([sys.executable, str(converter / "convert_hf_to_gguf.py"), str(model), "--outfile", str(base),
                "--outtype", "f16"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for t in types:
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{t.upper()}")
    params.nthread = len(os.sched_getaffinity(0))
    assert llama_cpp.llama_model_quantize(str(base).encode(), str(out / f"model-{t}.gguf").encode(), params) == 0
