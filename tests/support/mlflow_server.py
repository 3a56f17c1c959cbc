"""A real MLflow tracking server on 127.0.0.1 (its own environment: scripts/env.sh tracking), with a
SQLite store in a temporary folder."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from support.s3server import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class MlflowServer:
    url: str
    proc: subprocess.Popen

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def start(tmp: Path) -> MlflowServer:
    venv = subprocess.run([str(ROOT / "scripts" / "env.sh"), "tracking"], capture_output=True, text=True, check=True)
    mlflow = Path(venv.stdout.strip()) / "bin" / "mlflow"
    port = free_port()
    log = open(tmp / "mlflow.log", "w")
    proc = subprocess.Popen([str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
                             "--artifacts-destination", str(tmp / "artifacts")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return MlflowServer(url, proc)
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((tmp / "mlflow.log").read_text()[-3000:])
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the MLflow server did not answer within 120 s: " + (tmp / "mlflow.log").read_text()[-3000:])
