"""Run `tuneforge run` in a child process, as a user would, and read what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def tuneforge(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    # os.environ, not the C environment a child would inherit: a library loaded in this process may
    # have setenv()ed there (llama.cpp's KMP_BLOCKTIME), which a warm start would decline.
    return subprocess.run([sys.executable, "-m", "tuneforge.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def run_example(root: Path, example: str, out: Path, *sets: str, processes: int = 1) -> dict:
    args = ["run", str(root / "examples" / example), "--output", str(out), "--processes", str(processes)]
    for s in sets:
        args += ["--set", s]
    proc = tuneforge(*args)
    log = out.parent / f"{out.name}.log"
    assert proc.returncode == 0, proc.stderr[-2000:] + (log.read_text()[-4000:] if log.exists() else "")
    return json.loads((out / "tuneforge-output.json").read_text())


def run_doc(tmp_path: Path, doc: dict, name: str) -> tuple[Path, subprocess.CompletedProcess]:
    """`tuneforge run` of one manifest written to tmp_path/<name>.yaml; asserts success, shows the log if not."""
    import yaml

    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / name
    proc = tuneforge("run", str(path), "--output", str(out), timeout=1200)
    log = tmp_path / f"{name}.log"
    assert proc.returncode == 0, proc.stderr[-3000:] + (log.read_text()[-3000:] if log.exists() else "")
    return out, proc


def losses(out: Path) -> list[float]:
    return [h["loss"] for h in json.loads((out / "loss-history.json").read_text()) if "loss" in h]


def learned(out: Path) -> bool:
    seen = losses(out)
    return len(seen) >= 3 and sum(seen[-2:]) / 2 < 0.9 * seen[0]
