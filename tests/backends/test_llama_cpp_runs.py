"""The installed llama.cpp evaluates tokens on this machine. A library built for instructions the
machine cannot execute (a VM that advertises AMX and never grants it) dies by SIGILL at the first
evaluation: this test runs that evaluation in a child process and fails naming the signal, so such a
build can never pass as a skip or a timeout elsewhere."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tuneforge import crash
from tuneforge.sources.builtin import gguf_file

EVALUATE = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=64, n_threads=1, verbose=False)
tokens = llm.tokenize(b"The capital of France is")
llm.eval(tokens)
out = llm.create_completion("The capital of France is", max_tokens=4, temperature=0)
print("generated:", repr(out["choices"][0]["text"]))
print("system:", __import__("llama_cpp").llama_print_system_info().decode())
"""


def test_llama_cpp_evaluates_tokens_without_dying(root):
    model = gguf_file("smollm2-135m-instruct")
    proc = subprocess.run([sys.executable, "-c", EVALUATE, str(model)], capture_output=True, text=True, timeout=300)
    number = crash.signal_of(proc.returncode)
    if number:
        pytest.fail(f"llama.cpp died by {crash.signal_name(number)}: {crash.explain_signal(number)}\n{proc.stderr[-2000:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    generated = proc.stdout.split("generated:")[1].splitlines()[0]
    assert generated.strip(" '\"") != "", proc.stdout
    # The build uses no instruction set that scripts/cpu-features.sh did not see run on this machine.
    system = proc.stdout.split("system:")[1]
    used = {name.strip() for name, value in (part.split("=") for part in system.split("|") if "=" in part)
            if value.strip() == "1"}
    probed = subprocess.run([str(root / "scripts" / "cpu-features.sh")], capture_output=True, text=True, check=True).stdout
    allowed = {opt[len("-DGGML_"):-len("=ON")] for opt in probed.split() if opt.endswith("=ON")}
    for feature in ("AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8", "AMX_BF16", "AVX_VNNI"):
        assert feature not in used or feature in allowed, (feature, system, probed)
