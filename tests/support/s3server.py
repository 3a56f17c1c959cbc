"""A real S3 protocol server on 127.0.0.1: moto's server in a child process, with its request recorder
(which keeps method, URL and headers of every request while recording is on)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# Credentials the server accepts; they double as the known secret the leak tests grep for.
ACCESS_KEY = "AKIATUNEFORGETEST0001"
SECRET_KEY = "tf-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    url: str
    proc: subprocess.Popen
    recording: Path

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)

    def _post(self, path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/recorder/{path}", method="POST"), timeout=10)

    def record(self) -> None:
        self._post("reset-recording")
        self._post("start-recording")

    def recorded(self) -> list[dict]:
        """Requests since `record()`: method, url and headers."""
        self._post("stop-recording")
        lines = self.recording.read_text().splitlines() if self.recording.exists() else []
        return [json.loads(line) for line in lines if line.strip()]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start(tmp: Path) -> S3Server:
    port = free_port()
    recording = tmp / "moto-recording.jsonl"
    env = {"MOTO_RECORDER_FILEPATH": str(recording), "PATH": "/usr/bin:/bin"}
    log = open(tmp / "moto.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until_answering(f"{url}/moto-api/", proc, tmp / "moto.log", 60)
    return S3Server(url, proc, recording)


def wait_until_answering(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until `url` answers; the server's log in the error when it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: the server exited: " + log.read_text()[-3000:])
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s: " + log.read_text()[-3000:])
