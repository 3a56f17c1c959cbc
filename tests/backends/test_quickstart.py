"""The README's first command: the quickstart pipeline (LoRA + merge -> GGUF q4_k_m) with `tuneforge run`,
including a failure in its second step that keeps the first step's output and resumes from there."""

from __future__ import annotations

import json
import re

import pytest

from support.run import tuneforge

pytestmark = pytest.mark.slow

FEW_STEPS = ("--set", "spec.training.maxSteps=3", "--set", "quickstart-gguf:spec.evaluation.maxTokens=256")


def test_quickstart_pipeline_fails_at_step_two_keeps_step_one_and_resumes(root, tmp_path):
    example = str(root / "examples" / "quickstart.yaml")
    out = tmp_path / "out"
    missing = tmp_path / "nowhere.jsonl"
    broken = ("--set", f"quickstart-gguf:spec.evaluation.dataset.uri=file://{missing}")
    proc = tuneforge("run", example, "--output", str(out), *FEW_STEPS, *broken)

    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "[1/2] FineTuneJob/quickstart: done in" in proc.stdout
    assert f"[2/2] QuantizeJob/quickstart-gguf failed: file://{missing}: {missing} does not exist (exit 2)" in proc.stderr
    assert f"file://{missing}: {missing} does not exist" in proc.stderr
    assert f"kept: FineTuneJob/quickstart -> {out / 'quickstart'}" in proc.stderr
    resume_hint = re.search(r"resume with: (tuneforge run .*)", proc.stderr)
    assert resume_hint and resume_hint.group(1).endswith("--resume"), proc.stderr[-2000:]
    step_one = out / "quickstart" / "tuneforge-output.json"
    before = step_one.read_text()

    # Without --resume a finished step is never redone or overwritten silently.
    again = tuneforge("run", example, "--output", str(out), *FEW_STEPS)
    assert again.returncode == 2
    assert "pass --resume to keep it" in again.stderr

    resumed = tuneforge("run", example, "--output", str(out), *FEW_STEPS, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"[1/2] FineTuneJob/quickstart: already done in {out / 'quickstart'}; kept" in resumed.stdout
    assert step_one.read_text() == before
    assert "pipeline " in resumed.stdout and "2 jobs done in" in resumed.stdout

    gguf = json.loads((out / "quickstart-gguf" / "tuneforge-output.json").read_text())
    # The GGUF was made from the merged model step one wrote, and llama.cpp generated from it.
    assert gguf["parameters"]["model"]["uri"] == f"file://{out / 'quickstart' / 'merged'}"
    gguf_file = out / "quickstart-gguf" / gguf["artifacts"]["q4_k_m"]
    assert gguf_file.stat().st_size > 50e6
    sample = gguf["metrics"]["sample"]["completion"]
    assert sample.strip()
    assert f"  sample from {gguf['artifacts']['q4_k_m']}:" in resumed.stdout
    assert f"    {sample}" in resumed.stdout
    assert f"  q4_k_m: {gguf_file}" in resumed.stdout

    # A step whose spec changed is not mistaken for done.
    changed = tuneforge("run", example, "--output", str(out), "--set", "spec.training.maxSteps=4", "--resume")
    assert changed.returncode == 2
    assert "holds a finished job with another spec" in changed.stderr
