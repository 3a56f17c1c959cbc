"""Kueue's own controller beside the real control plane: built from its module (scripts/addons-build.sh),
its CRDs and its ClusterRole from the same module, run as its own user (a client certificate bound
to that role), with batch/Job integration and no webhook configurations installed: tuneforge creates
queued Jobs suspended itself, which is what Kueue's mutating webhook would otherwise do."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from support import realnode
from support.cluster import client_certificate, free_port, kubeconfig, record, settle, spawn

USER = "kueue-controller"


def start(kube) -> None:
    """Apply Kueue's CRDs and role, start its controller, return once it is ready."""
    cluster = kube.cluster
    addons = realnode.addons()
    kube.kubectl("apply", "--server-side", "-f", str(addons / "kueue-crds"), check=True)
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                 *(f"crd/{path.stem.split('_', 1)[1]}.kueue.x-k8s.io" for path in (addons / "kueue-crds").glob("*.yaml")),
                 check=True)
    kube.kubectl("apply", "-f", str(addons / "kueue-role.yaml"), check=True)
    kube.kubectl("create", "clusterrolebinding", "kueue-manager", "--clusterrole=manager-role", f"--user={USER}", check=True)
    pki, root = cluster.pki, cluster.root
    client_certificate(pki, "kueue", USER)
    # The webhook server starts whether or not any webhook is registered: it needs a certificate.
    certs = root / "kueue-webhook-certs"
    certs.mkdir(exist_ok=True)
    (pki / "kueue-san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    client_certificate(pki, "kueue-webhook", "kueue-webhook", extfile="kueue-san.cnf")
    (certs / "tls.crt").write_bytes((pki / "kueue-webhook.crt").read_bytes())
    (certs / "tls.key").write_bytes((pki / "kueue-webhook.key").read_bytes())
    health = free_port()
    config = root / "kueue-config.json"
    config.write_text(json.dumps({
        "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration", "namespace": "kueue-system",
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health}"},
        "metrics": {"bindAddress": f"127.0.0.1:{free_port()}"},
        "webhook": {"host": "127.0.0.1", "port": free_port(), "certDir": str(certs)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": ["batch/job"]},
    }))
    access = kubeconfig(root / "kueue.kubeconfig", cluster.server, pki, "kueue")
    cluster.pids["kueue"] = spawn("kueue", [str(addons / "bin" / "kueue"), f"--config={config}",
                                            f"--kubeconfig={access}", "--zap-log-level=2"], root / "logs")
    record(cluster)
    wait_ready(cluster, health)


def wait_ready(cluster, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        settle(cluster, "kueue", 0)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    log = (Path(cluster.root) / "logs" / "kueue.log").read_text(errors="replace")[-3000:]
    raise TimeoutError(f"Kueue's controller not ready after {timeout:.0f} s; its log ends:\n{log}")


def queues(kube, namespace: str, cpu: str, memory: str = "64Gi") -> None:
    """A ResourceFlavor, a ClusterQueue with this quota and a LocalQueue `team` in `namespace`."""
    api = "kueue.x-k8s.io/v1beta2"
    kube.kubectl("apply", "-f", "-", check=True, input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": api, "kind": "ResourceFlavor", "metadata": {"name": "default"}},
        {"apiVersion": api, "kind": "ClusterQueue", "metadata": {"name": "small"},
         "spec": {"namespaceSelector": {}, "resourceGroups": [{
             "coveredResources": ["cpu", "memory"],
             "flavors": [{"name": "default", "resources": [{"name": "cpu", "nominalQuota": cpu},
                                                           {"name": "memory", "nominalQuota": memory}]}]}]}},
        {"apiVersion": api, "kind": "LocalQueue", "metadata": {"name": "team", "namespace": namespace},
         "spec": {"clusterQueue": "small"}}]}))
