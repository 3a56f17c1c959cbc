"""Kueue's own controller beside the real control plane: built from its module (scripts/addons-build.sh),
its CRDs and its ClusterRole from the same module, run as its own user (a client certificate bound
to that role), with batch/Job integration and no webhook configurations installed: tuneforge creates
queued Jobs suspended itself, which is what Kueue's mutating webhook would otherwise do."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import yaml

from support import realnode
from support.cluster import client_certificate, free_port, kubeconfig, record, settle, spawn

USER = "kueue-controller"
NAMESPACE = "kueue-system"


def start(kube) -> None:
    """Apply Kueue's CRDs and role, start its controller, return once it is ready."""
    cluster = kube.cluster
    addons = realnode.addons()
    kube.kubectl("apply", "--server-side", "-f", str(addons / "kueue-crds"), check=True)
    crds = [f"crd/{path.stem.split('_', 1)[1]}.kueue.x-k8s.io" for path in (addons / "kueue-crds").glob("*.yaml")]
    # `kubectl wait` errors out (".status.conditions accessor error") on a CRD the server has not
    # given conditions yet, right after its creation: asked again until every one is Established.
    deadline = time.monotonic() + 60
    while (waited := kube.kubectl("wait", "--for=condition=Established", "--timeout=30s", *crds)).returncode:
        assert time.monotonic() < deadline, waited.stderr
        time.sleep(1)
    grant(kube, addons / "kueue-rbac")
    pki, root = cluster.pki, cluster.root
    client_certificate(pki, "kueue", USER)
    # The webhook server starts whether or not any webhook is registered: it needs a certificate.
    certs = root / "kueue-webhook-certs"
    certs.mkdir(exist_ok=True)
    (pki / "kueue-san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    client_certificate(pki, "kueue-webhook", "kueue-webhook", extfile="kueue-san.cnf")
    # Kueue 0.17 serves its metrics over TLS with a certificate it reads from a fixed path,
    # /etc/kueue/metrics/certs (where its Deployment mounts a Secret). Its process gets a private view
    # of /etc with that folder laid over the machine's (a read-only overlay in its own mount
    # namespace): the machine's /etc is not written.
    etc = root / "kueue-etc"
    (etc / "kueue" / "metrics" / "certs").mkdir(parents=True, exist_ok=True)
    for folder in (certs, etc / "kueue" / "metrics" / "certs"):
        (folder / "tls.crt").write_bytes((pki / "kueue-webhook.crt").read_bytes())
        (folder / "tls.key").write_bytes((pki / "kueue-webhook.key").read_bytes())
    health = free_port()
    config = root / "kueue-config.json"
    config.write_text(json.dumps({
        "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration", "namespace": NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health}"},
        "metrics": {"bindAddress": f"127.0.0.1:{free_port()}"},
        "webhook": {"host": "127.0.0.1", "port": free_port(), "certDir": str(certs)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": ["batch/job"]},
        # The on-demand visibility API server reads its certificate from a fixed /visibility and
        # exits without one; the tests read Workloads, not that API.
        "featureGates": {"VisibilityOnDemand": False},
    }))
    access = kubeconfig(root / "kueue.kubeconfig", cluster.server, pki, "kueue")
    with_etc = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                f'mount -t overlay overlay -o lowerdir={etc}:/etc /etc && exec "$0" "$@"']
    cluster.pids["kueue"] = spawn("kueue", [*with_etc, str(addons / "bin" / "kueue"), f"--config={config}",
                                            f"--kubeconfig={access}", "--zap-log-level=2"], root / "logs")
    record(cluster)
    wait_ready(cluster, health)


def grant(kube, rbac: Path) -> None:
    """Kueue's roles from its module bound to its user: what its Deployment's ServiceAccount has. The
    Secrets Role lives in Kueue's namespace (the module's kustomization names it `system`)."""
    kube.kubectl("create", "namespace", NAMESPACE, check=True)
    for path in sorted(rbac.glob("*.yaml")):
        for role in yaml.safe_load_all(path.read_text()):
            if role["kind"] == "Role":
                role["metadata"]["namespace"] = NAMESPACE
            kube.kubectl("apply", "-f", "-", input=json.dumps(role), check=True)
            name, binding = role["metadata"]["name"], f"kueue-{role['metadata']['name']}"
            if role["kind"] == "Role":
                kube.kubectl("create", "rolebinding", binding, "-n", NAMESPACE, f"--role={name}", f"--user={USER}",
                             check=True)
            else:
                kube.kubectl("create", "clusterrolebinding", binding, f"--clusterrole={name}", f"--user={USER}",
                             check=True)


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
