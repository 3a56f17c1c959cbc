"""What the end-to-end tests share: kubectl and helm against the session's cluster, and small helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


def node_path(kube: Kube, namespace: str, claim: str) -> Path:
    """Where the node stand-in keeps a PersistentVolumeClaim's files."""
    return kube.cluster.root / "node" / "pvc" / namespace / claim


def restricted_namespace(kube: Kube, name: str) -> str:
    kube.kubectl("create", "namespace", name, check=True)
    kube.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted", check=True)
    return name
