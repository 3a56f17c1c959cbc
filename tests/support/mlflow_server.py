"""A real MLflow tracking server on 127.0.0.1 (its own environment: scripts/env.sh tracking), with a
SQLite store in a temporary folder."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.s3server import free_port, wait_until_answering

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
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
                            # Its job runner (GenAI evaluation and prompt jobs, which no test uses) starts
                            # nine huey consumers, each importing mlflow: about 40 s of CPU per server.
                            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    wait_until_answering(f"{url}/health", proc, tmp / "mlflow.log", 120)
    return MlflowServer(url, proc)
