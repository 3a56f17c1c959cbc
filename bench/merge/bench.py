"""The merge worker against mergekit called directly with the same configuration, in the same run.

    OMP_NUM_THREADS=1 $(scripts/env.sh main)/bin/python bench/merge/bench.py [--rounds 2]

Inputs: the built-in SmolLM2-135M and a seeded perturbation of it. For each method the worker
(`python -m tuneforge.worker`, as a pod runs it, with output.sample off so both sides do the same work)
and bench/merge/direct.py (mergekit's run_merge with the configuration the worker wrote) alternate.
Wall time is the whole child process; peak memory is the child's max RSS (os.wait4).
Goal: at most 1.05x the wall time and the same peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import yaml

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> tuple[float, float, str]:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, cmd
    return time.monotonic() - t0, usage.ru_maxrss / 1024, out


def variant(base: Path, target: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * p.std() * 0.02)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(base).save_pretrained(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from tuneforge.backends.mergekit.plan import merge_options
    from tuneforge.sources.builtin import materialize_model

    base = materialize_model("smollm2-135m-instruct")
    work = Path(tempfile.mkdtemp(prefix="bench-merge-"))
    other = variant(base, work / "variant")
    builtin = {"uri": "builtin://smollm2-135m-instruct"}
    specs = {
        "slerp": {"baseModel": builtin, "models": [{"model": builtin}, {"model": {"uri": f"file://{other}"}}], "parameters": {"t": 0.5}},
        "ties": {"baseModel": builtin, "models": [{"model": {"uri": f"file://{other}"}, "parameters": {"density": 0.5, "weight": 1.0}}]},
    }
    for method, spec in specs.items():
        doc = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "MergeJob", "metadata": {"name": "bench"},
               "spec": {"method": method, "dtype": "float32", "output": {"sample": "off"}, **spec}}
        job = work / f"{method}.yaml"
        job.write_text(yaml.safe_dump(doc))
        ours, direct = [], []
        for r in range(args.rounds):
            out = work / f"{method}-ours-{r}"
            ours.append(timed([sys.executable, "-m", "tuneforge.worker", "--spec", str(job), "--output", str(out)])[:2])
            from tuneforge.api.manifest import load_file

            options = merge_options(load_file(job)[0].resource.spec, cuda=False)
            direct.append(timed([sys.executable, str(HERE / "direct.py"), str(out / "mergekit_config.yml"),
                                 str(work / f"{method}-direct-{r}"), json.dumps(options)])[:2])
        wall_ours, wall_direct = median(w for w, _ in ours), median(w for w, _ in direct)
        rss_ours, rss_direct = median(m for _, m in ours), median(m for _, m in direct)
        print(f"{method:6s} tuneforge worker {wall_ours:6.1f} s {rss_ours:7.0f} MiB | mergekit direct {wall_direct:6.1f} s "
              f"{rss_direct:7.0f} MiB | wall {wall_ours / wall_direct:.3f}x, peak memory {rss_ours / rss_direct:.3f}x")


if __name__ == "__main__":
    main()
