"""Quantization on a real GPU: AWQ (llm-compressor and AutoAWQ), GPTQ, EXL2 and EXL3.

Run on a machine with a CUDA GPU, from the repository root (see tests/gpu/quantize.sh):

    tests/gpu/prepare.sh quantize        # here, with network: wheels (git-ignored .whl/, .whl-autoawq/)
    tests/gpu/quantize.sh                # there: one line per method, non-zero exit if any fails

Each method goes through `tuneforge run` (the worker, as in a pod), then the output is loaded
with the library that serves it and greedily generates a few tokens. AutoAWQ pins transformers
4.x, so its run gets its own package folder first on the path (TUNEFORGE_AUTOAWQ_SITE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from finetune import model_uri  # noqa: E402  (same model choice as the fine-tuning check)

CASES = {
    "awq": {"method": "awq", "awq": {"groupSize": 64, "numSamples": 16, "maxSequenceLength": 256}},
    "gptq": {"method": "gptq", "gptq": {"groupSize": 64, "numSamples": 16, "maxSequenceLength": 256}},
    "autoawq": {"method": "awq", "awq": {"engine": "autoawq", "groupSize": 64, "numSamples": 16,
                                         "maxSequenceLength": 256}},
    "exl2": {"method": "exl2", "exl2": {"bitsPerWeight": [4.0, 6.0], "calibrationRows": 8, "calibrationLength": 256}},
    "exl3": {"method": "exl3", "exl3": {"bitsPerWeight": [3.0], "calibrationRows": 8, "calibrationLength": 256}},
}


def quantize(name: str, case: dict, model: str, work: Path) -> Path:
    doc = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "QuantizeJob", "metadata": {"name": name},
           "spec": {**case, "model": {"uri": model}, "resources": {"gpus": 1}, "evaluation": {"maxTokens": 1024}}}
    spec = work / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(doc))
    out = work / name
    env = dict(os.environ)
    if name == "autoawq" and os.environ.get("TUNEFORGE_AUTOAWQ_SITE"):
        env["PYTHONPATH"] = os.pathsep.join([os.environ["TUNEFORGE_AUTOAWQ_SITE"], env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "tuneforge.worker", "--spec", str(spec), "--output", str(out)],
                          env=env, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"worker exit {proc.returncode}: {proc.stderr[-1500:]}")
    return out


def generate(name: str, out: Path, env_site: str | None) -> str:
    """Load the output with its serving library in a fresh process and greedily generate 8 tokens."""
    record = json.loads((out / "tuneforge-output.json").read_text())
    folder = out / record["metrics"]["quality"][0]["file"]
    code = {
        "exl2": "from tuneforge.backends.exl2.logits import exl2 as load",
        "exl3": "from tuneforge.backends.exl2.logits import exl3 as load",
    }.get(name, "from tuneforge.backends.hf_quality import load as hf, logprobs_of\nload = lambda p: logprobs_of(hf(p))")
    script = f"""{code}
from transformers import AutoTokenizer
import sys
tok = AutoTokenizer.from_pretrained(sys.argv[1])
ids = tok("The capital of France is", add_special_tokens=False)["input_ids"]
step = load(sys.argv[1])
for _ in range(8):
    ids.append(int(step(ids)[-1].argmax()))
print(repr(tok.decode(ids)))
"""
    env = dict(os.environ)
    if env_site:
        env["PYTHONPATH"] = os.pathsep.join([env_site, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", script, str(folder)], env=env, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"load/generate failed: {proc.stderr[-1500:]}")
    return proc.stdout.strip().splitlines()[-1]


def main(names: list[str]) -> int:
    import torch

    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = model_uri(work)
        print(f"model: {model}")
        print("| method | seconds | outputs (type: size MB, bpw, ppl, KL) | generation |")
        for name in names or list(CASES):
            started = time.monotonic()
            try:
                out = quantize(name, CASES[name], model, work)
                rows = json.loads((out / "tuneforge-output.json").read_text())["metrics"]["quality"]
                text = generate(name, out, os.environ.get("TUNEFORGE_AUTOAWQ_SITE") if name == "autoawq" else None)
                summary = "; ".join(f"{r['type']}: {r['sizeBytes'] / 1e6:.0f}, {r.get('bitsPerWeight')}, "
                                    f"{r.get('perplexity')}, {r.get('klDivergence')}" for r in rows)
                print(f"| {name} | {time.monotonic() - started:.0f} | {summary} | {text} |", flush=True)
            except Exception as exc:  # report every method, then fail
                failed += 1
                print(f"| {name} | {time.monotonic() - started:.0f} | FAILED | {str(exc)[-600:]} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
