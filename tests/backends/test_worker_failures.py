"""A worker that dies by a signal is reported by `tuneforge run` with the signal's name and likely cause,
never as a bare exit code. The workers here are real worker processes that kill themselves with the
signal (a sitecustomize module that only the worker process acts on), so the whole path from the
kernel's wait status to the message is real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

EXAMPLE = "examples/quantize-gguf.yaml"

SITECUSTOMIZE = textwrap.dedent("""
    import os, signal, sys
    argv = open("/proc/self/cmdline", "rb").read().split(b"\\0")
    if b"tuneforge.worker" in argv and b"torch.distributed.run" not in argv:
        print("worker starting", file=sys.stderr, flush=True)
        ballast = bytearray(int(os.environ.get("DIE_AFTER_BYTES", "0")))
        ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident, not just reserved
        os.kill(os.getpid(), int(os.environ["DIE_WITH"]))
""")


def run_dying(root, tmp_path, number: int, ballast: int = 0) -> subprocess.CompletedProcess:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ, DIE_WITH=str(number), DIE_AFTER_BYTES=str(ballast),
               PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), os.environ["PYTHONPATH"]]))
    return subprocess.run([sys.executable, "-m", "tuneforge.cli", "run", str(root / EXAMPLE), "--output",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300, cwd=root)


@pytest.mark.parametrize("number, expected", [
    (signal.SIGILL, "failed: illegal instruction (SIGILL): a native library was built for CPU features this machine "
                    "cannot run (rebuild: remove ~/.cache/tuneforge/wheels/llama-cpp-python-*"),
    (signal.SIGSEGV, "failed: segmentation fault (SIGSEGV): a crash in a native library; last log lines: worker starting"),
    (signal.SIGBUS, "failed: bus error (SIGBUS)"),
    (signal.SIGABRT, "failed: aborted (SIGABRT): a native library stopped on a failed check; last log lines: worker starting"),
])
def test_a_worker_killed_by_a_signal_is_named_with_its_cause(root, tmp_path, number, expected):
    proc = run_dying(root, tmp_path, number)
    assert proc.returncode == 128 + number, proc.stderr[-2000:]
    assert f"QuantizeJob/smol-gguf {expected}" in proc.stderr, proc.stderr[-2000:]
    assert "exit -" not in proc.stderr


def test_a_killed_worker_is_reported_with_its_peak_memory(root, tmp_path):
    proc = run_dying(root, tmp_path, signal.SIGKILL, ballast=300_000_000)
    assert proc.returncode == 128 + signal.SIGKILL, proc.stderr[-2000:]
    line = next(line for line in proc.stderr.splitlines() if "failed:" in line)
    assert "failed: killed (SIGKILL), most often by the kernel's out-of-memory killer (peak RSS " in line, line
    peak = float(line.split("peak RSS ")[1].split(" ")[0]) * {"MB": 1e6, "GB": 1e9}[line.split("peak RSS ")[1].split(" ")[1]]
    assert peak >= 300_000_000, line


def test_under_torchrun_the_workers_own_error_is_the_summary(root, tmp_path):
    """DeepSpeed runs the worker under torchrun, whose ChildFailedError report used to bury the worker's line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli", "run", str(root / "examples" / "finetune-full-deepspeed.yaml"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=600, cwd=root)
    assert proc.returncode == 1, proc.stderr[-3000:]
    first = next((line for line in proc.stderr.splitlines() if " failed: " in line), proc.stderr[-3000:])
    assert first.startswith("FineTuneJob/llama-full failed: "), first
    assert "failed: s3://" in first and "no S3 credentials" in first and "(exit 1)" in first, first
    assert "ChildFailedError" not in proc.stderr and "Root Cause" not in proc.stderr
    # torchrun's report is still in the log file for whoever wants it.
    assert "ChildFailedError" in (tmp_path / "out.log").read_text()
