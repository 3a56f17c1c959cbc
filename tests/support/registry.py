"""A real OCI registry on 127.0.0.1: Debian's docker-registry (the CNCF distribution registry) with a
password file, in a child process. Its HTTP API is what the oci:// tests read back."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from support.s3server import free_port

USER = "tuneforge"
# A known password the leak tests grep for.
PASSWORD = "tf-registry-pass-7c1e9a2b"


@dataclass
class Registry:
    address: str
    proc: subprocess.Popen

    def docker_config(self, password: str = PASSWORD, address: str | None = None) -> str:
        """A docker config JSON as a kubernetes.io/dockerconfigjson Secret holds it (for `address`, this
        registry's by default)."""
        auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
        return json.dumps({"auths": {address or self.address: {"auth": auth}}})

    def get(self, path: str, accept: str = "application/vnd.oci.image.manifest.v1+json") -> tuple[bytes, dict]:
        """GET /v2/<path> as the registry's own API answers it: (body, headers)."""
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(f"http://{self.address}/v2/{path}",
                                         headers={"Authorization": f"Basic {auth}", "Accept": accept})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read(), dict(response.headers)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start(tmp: Path) -> Registry:
    address = f"127.0.0.1:{free_port()}"
    htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True).stdout
    (tmp / "htpasswd").write_text(htpasswd)
    config = tmp / "registry.yml"
    config.write_text(json.dumps({
        "version": "0.1", "log": {"level": "warn"}, "http": {"addr": address},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "data")}, "delete": {"enabled": True}},
        "auth": {"htpasswd": {"realm": "tuneforge-tests", "path": str(tmp / "htpasswd")}}}))
    log = open(tmp / "registry.log", "w")  # noqa: SIM115 (the child writes it until stop)
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://{address}/v2/", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # 401: up, and asking for the password
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("docker-registry did not start: " + (tmp / "registry.log").read_text()[-2000:])
            time.sleep(0.2)
    return Registry(address, proc)
