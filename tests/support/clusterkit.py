"""What the end-to-end tests share: kubectl and helm against the session's cluster, and small helpers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from support import builders
from support import cluster as control_plane

ROOT = Path(__file__).resolve().parents[2]


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


def finetune(name: str, **spec) -> dict:
    """A small LoRA FineTuneJob on the built-in model and data; `spec` replaces top-level fields."""
    doc = builders.finetune("lora", name).set("spec.training", {"maxSteps": 2, "maxLength": 64, "batchSize": 1})
    doc["spec"].update(spec)
    return doc


def eventually(check, timeout: float = 120, every: float = 1):
    """check()'s first truthy value within `timeout` seconds, else its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def describe(kube: Kube, ns: str) -> str:
    """What a person would look at when a wait fails: the resources, their Jobs and pods, the operator's log."""
    return "\n".join(kube.kubectl(*args).stdout[-3000:] for args in (
        ("get", "ftj,mj,qj,jobs,pods", "-n", ns, "-o", "wide"), ("describe", "ftj,mj,qj", "-n", ns),
        ("logs", "-n", OPERATOR_NAMESPACE, f"deploy/{OPERATOR}", "--tail=60")))


OPERATOR_NAMESPACE, OPERATOR = "tuneforge-system", "tf-tuneforge"  # the release the operator fixture installs
RELEASE_VALUES = ("--set", "defaultOutputClaim=outputs", "--set", "metrics.enabled=false")  # and its values


def operator_pod(kube: Kube) -> dict:
    pods = kube.json("get", "pods", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/component=operator")["items"]
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") == "Running"]
    assert len(running) == 1, [p["metadata"]["name"] for p in pods]
    return running[0]


def operator_pid(kube: Kube, pod: dict) -> int | None:
    """The process the node runs for the operator pod's container now (None between two runs)."""
    try:
        pid = int((kube.cluster.root / "node" / "pods" / pod["metadata"]["uid"] / "pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def kill_operator(kube: Kube, meanwhile=None) -> None:
    """SIGKILL to the operator's process, as the kernel's OOM killer or a node failure would end it; the
    node restarts the container in place (restartPolicy Always, after a 2 s back-off), and this waits
    until the new process runs and the pod is ready again. `meanwhile()` runs right after the kill,
    before the new process starts."""
    pod = operator_pod(kube)
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    pid = operator_pid(kube, pod)
    assert pid, "the operator's container is not running"
    os.kill(pid, signal.SIGKILL)
    if meanwhile:
        meanwhile()

    def back():
        try:
            now = operator_pod(kube)
        except AssertionError:
            return False
        status = now["status"]["containerStatuses"][0]
        new = operator_pid(kube, now)
        return status["restartCount"] > restarts and status.get("ready") and new not in (None, pid)
    assert eventually(back, 60), "the node did not restart the operator's container"


@contextlib.contextmanager
def without_permission(kube: Kube, resource: str, verb: str):
    """The operator's ClusterRole without `verb` on `resource` until the block ends or the yielded
    `restore()` is called: the operator is held at the step that needs it, with the cluster's state
    exactly as that step leaves it."""
    rules = kube.json("get", "clusterrole", OPERATOR)["rules"]
    held = []
    for rule in rules:
        if resource in rule.get("resources", []) and verb in rule["verbs"]:
            held.append({**rule, "resources": [r for r in rule["resources"] if r != resource]})
            held.append({**rule, "resources": [resource], "verbs": [v for v in rule["verbs"] if v != verb]})
        else:
            held.append(rule)
    assert held != rules, f"the ClusterRole grants no {verb} on {resource}"

    def replace(new_rules):
        current = kube.json("get", "clusterrole", OPERATOR)
        body = {**current, "rules": [r for r in new_rules if r["resources"] and r["verbs"]]}
        kube.kubectl("replace", "-f", "-", input=json.dumps(body), check=True)

    restored = []

    def restore():
        if not restored:
            replace(rules)
            restored.append(True)

    replace(held)
    try:
        yield restore
    finally:
        restore()
