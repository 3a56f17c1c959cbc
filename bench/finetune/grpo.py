"""Does GRPO learn? A longer GRPO run with LoRA on the built-in arithmetic prompts (the rows of
builtin://answers-mini whose answer is a number), through `tuneforge run` as a user runs it; prints
the mean reward per step and the mean of the first and last tenth of the steps. Record the numbers in
bench/README.md with the machine.

    $(scripts/env.sh main)/bin/python bench/finetune/grpo.py [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "operator" / "tuneforge" / "data" / "answers-mini.jsonl"


def arithmetic_rows(target: Path) -> int:
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    kept = [r for r in rows if re.fullmatch(r"-?\d+", r["answer"])]
    target.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grpo-bench-"))
    rows = arithmetic_rows(work / "arithmetic.jsonl")
    doc = yaml.safe_load((ROOT / "examples" / "finetune-grpo.yaml").read_text())
    doc["spec"]["dataset"] = {"uri": f"file://{work / 'arithmetic.jsonl'}", "format": "verifiable"}
    doc["spec"]["grpo"] = {"numGenerations": 8, "maxCompletionLength": 24, "temperature": 1.0,
                           "rewards": [{"name": "numeric-match", "weight": 1.0},
                                       {"name": "length-penalty", "targetLength": 24, "weight": 0.5}]}
    doc["spec"]["training"] = {"maxSteps": args.steps, "learningRate": 2e-4, "batchSize": 8, "maxLength": 128,
                               "warmupSteps": 2, "saveSteps": 10_000}
    doc["spec"]["output"] = {"sample": "off"}
    spec = work / "grpo.yaml"
    spec.write_text(yaml.safe_dump(doc))
    proc = subprocess.run([str(ROOT / "scripts" / "tuneforge"), "run", str(spec), "--output", str(work / "out")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-3000:])
    m = json.loads((work / "out" / "tuneforge-output.json").read_text())["metrics"]
    mean, tenth = m["rewardMean"], max(len(m["rewardMean"]) // 10, 1)
    first, last = sum(mean[:tenth]) / tenth, sum(mean[-tenth:]) / tenth
    print(json.dumps({"prompts": rows, "steps": m["steps"], "trainSeconds": m["trainSeconds"],
                      "rewardMean": [round(v, 3) for v in mean], "rewards": m["rewards"],
                      "completionLength": m["completionLength"]}))
    print(f"mean reward: first {tenth} steps {first:.3f}, last {tenth} steps {last:.3f} "
          f"({'rises' if last > first else 'does not rise'}); completions {m['completionLength'][0]:.1f} -> "
          f"{m['completionLength'][-1]:.1f} tokens; {m['trainSeconds']:.0f} s")


if __name__ == "__main__":
    main()
