"""The README's first command, timed: `scripts/tuneforge run examples/quickstart.yaml`.

cold: a new environment (created by scripts/env.sh from pip's cache and the cached llama-cpp-python
      wheel, as on any machine that has installed once) and an empty model cache, so the built-in
      model is converted again;
warm: the same command again with the environment and the model cache in place (a new output folder).

    python3 bench/quickstart/bench.py [--keep DIR]

Prints both wall times, their ratio, and the peak RSS of the biggest process of each run.
Goals (issue #8): cold <= 5 minutes, warm <= 0.5x cold.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(label: str, env: dict[str, str], out: Path) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "scripts" / "tuneforge"), "run", str(ROOT / "examples" / "quickstart.yaml"),
                           "--output", str(out)], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.exit(f"{label} run failed:\n{proc.stderr[-3000:]}")
    # ru_maxrss of children is the largest single child so far: meaningful for the first run only
    # unless it grew.
    return seconds, max(peak, before) / 1024, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one, removed)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="tuneforge-bench-quickstart-"))
    # The user's own environment otherwise (thread counts included): this is the README's command.
    env = {**os.environ, "TUNEFORGE_VENV_ROOT": str(work / "venvs"), "TUNEFORGE_CACHE": str(work / "cache")}
    try:
        cold, cold_rss, _ = run("cold", env, work / "out-cold")
        warm, warm_rss, stdout = run("warm", env, work / "out-warm")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(stdout)
    print(f"cores: {os.cpu_count()}  OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}")
    print(f"cold (new environment + empty model cache): {cold:.0f} s ({cold / 60:.1f} min), peak RSS {cold_rss:.0f} MiB")
    print(f"warm (environment and model cache in place): {warm:.0f} s, warm/cold = {warm / cold:.2f}x")
    print(f"goals: cold <= 300 s {'met' if cold <= 300 else 'NOT met'}; warm <= 0.5x cold "
          f"{'met' if warm <= 0.5 * cold else 'NOT met'}")


if __name__ == "__main__":
    main()
