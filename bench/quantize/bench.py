"""The GGUF worker against llama.cpp's converter and llama_model_quantize called directly, in the same run.

    OMP_NUM_THREADS=1 $(scripts/env.sh main)/bin/python bench/quantize/bench.py [--rounds 3]

The worker (`python -m tuneforge.worker`, as a pod runs it) converts the built-in SmolLM2-135M and
writes q4_k_m, q5_k_m and q8_0, with the quality measurement and samples off so both sides do the
same work; bench/quantize/direct.py does the same with the two tools by hand. They alternate; wall
time is the whole child process, peak memory its max RSS. Goal: at most 1.05x the wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import yaml

HERE = Path(__file__).resolve().parent
TYPES = ["q4_k_m", "q5_k_m", "q8_0"]


def timed(cmd: list[str]) -> tuple[float, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, cmd
    return time.monotonic() - t0, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--types", default=",".join(TYPES), help="comma-separated GGUF types")
    args = parser.parse_args()
    types = args.types.split(",")
    from tuneforge.sources.builtin import materialize_model

    model = materialize_model("smollm2-135m-instruct")  # converted once, outside the timings
    work = Path(tempfile.mkdtemp(prefix="bench-quantize-"))
    doc = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "QuantizeJob", "metadata": {"name": "bench"},
           "spec": {"method": "gguf", "model": {"uri": "builtin://smollm2-135m-instruct"}, "gguf": {"types": types},
                    "evaluation": {"enabled": False}, "output": {"sample": "off"}}}
    job = work / "job.yaml"
    job.write_text(yaml.safe_dump(doc))
    ours, direct = [], []

    def run_ours(r: int) -> None:
        out = work / f"ours-{r}"
        ours.append(timed([sys.executable, "-m", "tuneforge.worker", "--spec", str(job), "--output", str(out)]))
        shutil.rmtree(out)

    def run_direct(r: int) -> None:
        out = work / f"direct-{r}"
        direct.append(timed([sys.executable, str(HERE / "direct.py"), str(model), str(out), *types]))
        shutil.rmtree(out)

    for r in range(args.rounds):
        # Which side goes first alternates, so neither always follows the other's page-cache state.
        for side in ((run_ours, run_direct) if r % 2 == 0 else (run_direct, run_ours)):
            side(r)
        print(f"  round {r + 1}: worker {ours[-1][0]:.2f} s, direct {direct[-1][0]:.2f} s, {ours[-1][0] / direct[-1][0]:.3f}x",
              file=sys.stderr, flush=True)
    wall_ours, wall_direct = median(w for w, _ in ours), median(w for w, _ in direct)
    rss_ours, rss_direct = median(m for _, m in ours), median(m for _, m in direct)
    # The median of each round's ratio: on a shared machine, a slow spell hits both runs of a round.
    paired = median(o / d for (o, _), (d, _) in zip(ours, direct, strict=True))
    print(f"gguf {'+'.join(types)}: tuneforge worker {wall_ours:5.1f} s {rss_ours:6.0f} MiB | direct {wall_direct:5.1f} s "
          f"{rss_direct:6.0f} MiB | wall {paired:.3f}x (median of {args.rounds} rounds' ratios; ratio of medians "
          f"{wall_ours / wall_direct:.3f}x), peak memory {rss_ours / rss_direct:.3f}x")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
