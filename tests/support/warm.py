"""The warm process (`tuneforge warm`, tuneforge/cli/warm.py) of one test process: the workers that
this process's `tuneforge run` calls start forked from it, with their libraries already imported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tuneforge.cli.warm import ENV


class WarmProcess:
    def __init__(self, folder: Path, preload: str | None = None, modules: tuple[str, ...] = ()):
        # A socket's path has at most 107 bytes; a deep temporary folder (TMPDIR, --basetemp) may be longer.
        self.socket = Path(tempfile.mkdtemp(prefix="tuneforge-warm-", dir="/tmp")) / "warm.sock"
        self.log_path = folder / "warm.log"
        command = [sys.executable, "-m", "tuneforge.cli", "warm", str(self.socket), "--until-stdin-closes"]
        command += [*(["--preload", preload] if preload is not None else []), *(f"--module={m}" for m in modules)]
        self.log = open(self.log_path, "w")
        # os.environ as the tests' `tuneforge run` children get it (support/run.py), not the C environment.
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=self.log, stderr=self.log,
                                     env=dict(os.environ))
        deadline = time.monotonic() + 300
        while "warm: ready" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tuneforge warm did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    @property
    def env(self) -> dict[str, str]:
        return {ENV: str(self.socket)}

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.startswith(prefix)]

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.socket.parent, ignore_errors=True)
