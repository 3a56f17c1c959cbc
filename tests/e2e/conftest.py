"""A real control plane for the session: etcd, kube-apiserver and kube-controller-manager built from
their Go modules (scripts/kube-build.sh, cached), started on loopback by tests/support/cluster.py,
stopped (by PID) at the end. kubectl and helm are the real binaries (scripts/kube-tools.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import cluster as control_plane  # noqa: E402


@dataclass
class Kube:
    """kubectl and helm against the session's cluster, as the admin user."""

    cluster: control_plane.Cluster
    tools: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}

    def kubectl(self, *args: str, input: str | None = None, check: bool = False, timeout: int = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.tools / "kubectl"), *args], capture_output=True, text=True, input=input,
                              env=self.env(), timeout=timeout)
        if check:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json", check=True).stdout)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.tools / "helm"), *args], capture_output=True, text=True, env=self.env(), timeout=300)
        if check:
            assert proc.returncode == 0, f"helm {' '.join(args)}: {proc.stderr}"
        return proc


@pytest.fixture(scope="session")
def kube(tmp_path_factory) -> Kube:
    root = tmp_path_factory.mktemp("cluster")
    tools = Path(subprocess.run([str(ROOT / "scripts" / "kube-tools.sh")], capture_output=True, text=True,
                                check=True).stdout.strip())
    running = control_plane.start(root)
    try:
        yield Kube(running, tools)
    finally:
        control_plane.stop(root)


@pytest.fixture(scope="session")
def crds(kube: Kube) -> Kube:
    """The chart's CRDs applied server-side (as the README tells a user to upgrade them) and Established."""
    kube.kubectl("apply", "--server-side", "-f", str(ROOT / "charts" / "tuneforge" / "crds"), check=True)
    for plural in ("finetunejobs", "mergejobs", "quantizejobs"):
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{plural}.tuneforge.io", check=True)
    # The server publishes a new CRD's OpenAPI (what `kubectl explain` reads) a few seconds after it
    # is Established.
    deadline = time.monotonic() + 60
    while any(kube.kubectl("explain", kind).returncode for kind in ("finetunejob", "mergejob", "quantizejob")):
        assert time.monotonic() < deadline, "the CRDs' OpenAPI was not published within 60 s"
        time.sleep(1)
    return kube
