"""What the end-to-end tests share: kubectl and helm against the session's cluster, and small helpers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

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


def host_claims(kube: Kube, ns: str, *claims: str) -> dict[str, Path]:
    """PersistentVolumeClaims bound to hostPath PersistentVolumes under the cluster's folder, owned by
    the workers' uid (what a storage class's provisioner would hand out); claim -> its folder."""
    folders = {}
    for claim in claims:
        folder = folders[claim] = kube.cluster.root / "volumes" / ns / claim
        folder.mkdir(parents=True)
        os.chown(folder, 1000, 1000)
        volume = f"{ns}-{claim}"
        kube.kubectl("apply", "-f", "-", check=True, input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
             "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany"], "storageClassName": "",
                      "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": str(folder), "type": "Directory"},
                      "claimRef": {"namespace": ns, "name": claim}}},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": ns},
             "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": volume,
                      "resources": {"requests": {"storage": "10Gi"}}}}]}))
    return folders


def restricted_namespace(kube: Kube, name: str) -> str:
    kube.kubectl("create", "namespace", name, check=True)
    kube.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted", check=True)
    return name


def finetune(name: str, **spec) -> dict:
    """A small LoRA FineTuneJob on the built-in model and data; `spec` replaces top-level fields."""
    doc = builders.finetune("lora", name).set("spec.training", {"maxSteps": 2, "maxLength": 64, "batchSize": 1})
    doc["spec"].update(spec)
    return doc


def kustomized(tmp_path: Path, namespace: str, patches: list[dict], example: str = "quickstart.yaml",
               text: str | None = None) -> Path:
    """An example (examples/quickstart.yaml, or `text` in its place) as `kubectl apply -k` takes it: in
    `namespace`, with `patches`."""
    folder = tmp_path / "kustomize"
    folder.mkdir()
    if text is None:
        shutil.copy(ROOT / "examples" / example, folder / example)
    else:
        (folder / example).write_text(text)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump({
        "namespace": namespace, "resources": [example], "patches": patches}))
    return folder


def notes_manifest(notes: str) -> str:
    """The manifest the chart's NOTES.txt tells a user to apply (its `kubectl apply -f - <<'YAML'`)."""
    body = notes.split("<<'YAML'\n", 1)[1].split("\n  YAML\n", 1)[0]
    return "\n".join(line.removeprefix("  ") for line in body.splitlines()) + "\n"


def replace(kind: str, name: str, path: str, value) -> dict:
    """A JSON patch that sets `path` of one resource."""
    return {"target": {"kind": kind, "name": name}, "patch": json.dumps([{"op": "add", "path": path, "value": value}])}


# The quickstart with fewer steps: the pipeline is the same, the tests shorter.
FEW_STEPS = [replace("FineTuneJob", "quickstart", "/spec/training/maxSteps", 3),
             replace("QuantizeJob", "quickstart-gguf", "/spec/evaluation", {"maxTokens": 256})]


def eventually(check, timeout: float = 120, every: float = 1):
    """check()'s first truthy value within `timeout` seconds, else its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def finished(kube: Kube, ns: str, *resources: str, timeout: float = 900) -> None:
    """Wait until each `kind/name` is Succeeded or Failed (not the whole timeout when one fails), then
    assert all Succeeded, showing what a person would look at if not."""
    def phases():
        return {r: (kube.json("get", r, "-n", ns).get("status") or {}).get("phase") for r in resources}
    eventually(lambda: all(p in ("Succeeded", "Failed") for p in phases().values()), timeout, every=5)
    now = phases()
    assert all(p == "Succeeded" for p in now.values()), f"{now}\n{describe(kube, ns)}"


def describe(kube: Kube, ns: str) -> str:
    """What a person would look at when a wait fails: the resources, their Jobs and pods, the operator's log."""
    return "\n".join(kube.kubectl(*args).stdout[-3000:] for args in (
        ("get", "ftj,mj,qj,jobs,pods", "-n", ns, "-o", "wide"), ("describe", "ftj,mj,qj", "-n", ns),
        ("logs", "-n", OPERATOR_NAMESPACE, f"deploy/{OPERATOR}", "--tail=60")))


OPERATOR_NAMESPACE, OPERATOR = "tuneforge-system", "tf-tuneforge"  # the release the operator fixture installs
# The chart's version, as scripts/publish pushes it (Chart.yaml's `version`).
CHART_VERSION = yaml.safe_load((ROOT / "charts" / "tuneforge" / "Chart.yaml").read_text())["version"]
BACKENDS = ("finetune", "mergekit", "gguf", "awq", "autoawq", "exl2")
# One CPU per worker pod on the 2-core test machine, as a platform team caps pods on a shared node:
# the worker then runs one thread (tuneforge/cpus.py), beside the suite's other pytest worker,
# instead of one per core with both spinning for the same two cores.
ONE_CPU = tuple(a for b in BACKENDS for a in ("--set", f"workers.defaults.{b}.resources.requests.cpu=1",
                                              "--set", f"workers.defaults.{b}.resources.limits.cpu=1"))
RELEASE_VALUES = ("--set", "defaultOutputClaim=outputs", "--set", "metrics.enabled=false", *ONE_CPU)  # and its values
# What the quickstart's two steps ask of a 2-core test machine, in place of the chart's GPU-node defaults.
SMALL_WORKER = {"resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "8Gi"}}}
# null removes the chart's GPU nodeSelector and toleration of fine-tuning (helm merges values key by key).
OFF_GPU = {"nodeSelector": None, "tolerations": None}


def worker(backend: str) -> dict:
    return {**SMALL_WORKER, **(OFF_GPU if backend == "finetune" else {})}


def real_node_values() -> list[str]:
    """The chart's values for the real node beside what scripts/publish wrote into it (the registry,
    the images' tag): small workers, the claims the tests create."""
    values = ["--set", "defaultOutputClaim=outputs", "--set", "modelCache.existingClaim=model-cache"]
    for backend in ("finetune", "gguf"):  # the quickstart's workers
        values += ["--set-json", f"workers.defaults.{backend}={json.dumps(worker(backend))}"]
    return values


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
