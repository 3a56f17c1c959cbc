"""Steps per second of `tuneforge run` against plain TRL with identical settings, in the same run.

    scripts/env.sh main  # then, with that environment's python:
    OMP_NUM_THREADS=1 python bench/finetune/bench.py [--rounds 2] [--steps 20]

Runs alternate (TRL, tuneforge, TRL, tuneforge, ...) so drift on a shared machine hits both.
The ratio compares the training loops (trainer.train() time); wall time of the whole process is
shown beside it. Goal: tuneforge at least 0.95x the steps/s of plain TRL.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    from tuneforge.sources.builtin import materialize_model
    from tuneforge.sources import resolve_dataset
    from tuneforge.api.sources import DatasetSource

    model_dir = materialize_model("smollm2-135m-instruct")
    data = resolve_dataset(DatasetSource(uri="builtin://chat-mini", format="chat"))
    plain, ours = [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, str(HERE / "plain_trl.py"), str(model_dir), str(data), str(args.steps), tmp],
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            plain.append(json.loads(out))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-m", "tuneforge.cli", "run", str(HERE / "job.yaml"), "--output", tmp,
                            "--set", f"spec.training.maxSteps={args.steps}"], capture_output=True, text=True, check=True)
            wall = time.monotonic() - t0
            metrics = json.loads((Path(tmp) / "tuneforge-output.json").read_text())["metrics"]
            ours.append({"steps": metrics["steps"], "trainSeconds": metrics["trainSeconds"], "wallSeconds": wall})
    sps = lambda runs: median(r["steps"] / r["trainSeconds"] for r in runs)  # noqa: E731
    wall = lambda runs: median(r["wallSeconds"] for r in runs)  # noqa: E731
    print(f"plain TRL : {sps(plain):.3f} steps/s, {wall(plain):.1f} s wall (median of {args.rounds})")
    print(f"tuneforge : {sps(ours):.3f} steps/s, {wall(ours):.1f} s wall (median of {args.rounds})")
    print(f"ratio     : {sps(ours) / sps(plain):.3f}x steps/s (goal >= 0.95)")


if __name__ == "__main__":
    main()
