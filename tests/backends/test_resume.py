"""A killed worker resumes from its latest checkpoint instead of starting over."""

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

pytestmark = pytest.mark.slow


def test_resume_after_kill(root, tmp_path):
    manifest = yaml.safe_load((root / "examples" / "finetune-lora-local.yaml").read_text())
    manifest["spec"]["training"].update(maxSteps=10, saveSteps=3, maxLength=96, batchSize=2)
    manifest["spec"]["output"] = {"mergeAdapter": False}
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(manifest))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tuneforge.worker", "--spec", str(spec), "--output", str(out)]

    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    checkpoint = out / "checkpoints" / "checkpoint-3"
    deadline = time.monotonic() + 600
    while not (checkpoint / "trainer_state.json").exists():
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (out / "tuneforge-output.json").exists()

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resuming from {out / 'checkpoints'}/checkpoint-" in second.stdout
    steps = [json.loads(line.split(" ", 1)[1])["step"] for line in second.stdout.splitlines()
             if line.startswith("::tuneforge::progress")]
    # The first line says where it resumed (the checkpoint's step), then training goes on from there.
    resumed_at, *later = steps
    assert resumed_at >= 3 and later and min(later) > resumed_at, \
        f"the second run continued after the checkpoint, not from step 1: {steps}"
    rec = json.loads((out / "tuneforge-output.json").read_text())
    assert rec["metrics"]["steps"] == 10
    assert rec["metrics"]["resumedFrom"] == f"checkpoint-{resumed_at}" and rec["metrics"]["restarts"] == 1
