"""Thread settings for local CPU runs: the quickstart pipeline with OMP_NUM_THREADS=N, for each N given.

    $(scripts/env.sh main)/bin/python bench/threads/bench.py [--threads 1,2] [--rounds 3] [--steps 10]

Each round runs every setting once, in an order that rotates from round to round, each in a fresh
output folder with the model cache warm; the figure per setting is the median over rounds of each
step's wall time (the fine-tune, the GGUF step) and of the whole run, and the ratio to the first setting.
This is what `tuneforge run` chooses its default from (tuneforge/threads.py).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DONE = re.compile(r"^\[(\d)/2\] \S+: done in (\d+)m(\d+)s", re.M)


def once(threads: str, steps: int, out: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["OMP_NUM_THREADS"] = threads
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli", "run", str(ROOT / "examples" / "quickstart.yaml"),
                           "--output", str(out), "--set", f"quickstart:spec.training.maxSteps={steps}"],
                          env=env, capture_output=True, text=True)
    total = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"OMP_NUM_THREADS={threads} failed:\n{proc.stderr[-3000:]}")
    steps_s = {int(m[0]): int(m[1]) * 60 + int(m[2]) for m in DONE.findall(proc.stdout)}
    return {"finetune": steps_s[1], "gguf": steps_s[2], "total": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated OMP_NUM_THREADS values; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="fine-tuning steps of the quickstart")
    args = parser.parse_args()
    settings = args.threads.split(",")
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory(prefix="tuneforge-bench-threads-") as work:
        for r in range(args.rounds):
            order = settings[r % len(settings):] + settings[:r % len(settings)]
            for s in order:
                runs[s].append(once(s, args.steps, Path(work) / f"r{r}-t{s}"))
                print(f"round {r + 1} OMP_NUM_THREADS={s}: {runs[s][-1]}", flush=True)
    print(f"cores: {os.cpu_count()}, {args.rounds} rounds, quickstart with {args.steps} fine-tuning steps")
    base = settings[0]
    for s in settings:
        med = {k: statistics.median(r[k] for r in runs[s]) for k in ("finetune", "gguf", "total")}
        ratio = statistics.median(a["total"] / b["total"] for a, b in zip(runs[s], runs[base], strict=True))
        print(f"OMP_NUM_THREADS={s}: fine-tune {med['finetune']:.0f} s, gguf {med['gguf']:.0f} s, "
              f"total {med['total']:.1f} s, {ratio:.2f}x of OMP_NUM_THREADS={base} (median of the rounds' ratios)")


if __name__ == "__main__":
    main()
