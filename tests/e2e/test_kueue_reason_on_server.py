"""How the operator reads Kueue's reason for holding a Job (controller/queue.py), in the operator's
own environment against the real API server: a Workload API served as v1beta2 or only as v1beta1
(Kueue before 0.15), no Workload API at all, and a caller the server refuses. The Workload API here is a CRD of the same group, names and
label as Kueue's, without Kueue's schema; Kueue's own controller writes the reason in
test_real_node.py."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from support import cluster as control_plane
from support.clusterkit import ROOT

JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"

REASON = "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default, 50m more needed"


def workload_crd(*versions: str) -> dict:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "workloads.kueue.x-k8s.io"},
            "spec": {"group": "kueue.x-k8s.io", "scope": "Namespaced",
                     "names": {"plural": "workloads", "singular": "workload", "kind": "Workload"},
                     "versions": [{"name": v, "served": True, "storage": i == 0, "schema": schema}
                                  for i, v in enumerate(versions)]}}


@pytest.fixture
def server(kube):
    yield kube
    kube.kubectl("delete", "crd", "workloads.kueue.x-k8s.io", "--ignore-not-found", "--wait=true", check=True)


def pending_message(kube, job: dict, kubeconfig: Path | None = None):
    """pending_message(server, job) run by the operator's environment (the kubernetes client is there
    only) as the cluster's admin, or as the user of `kubeconfig`."""
    venv = subprocess.run([str(ROOT / "scripts" / "env.sh"), "operator"], capture_output=True, text=True,
                          check=True).stdout.strip()
    code = ("import json, sys; from tuneforge.controller import queue; "
            "print(json.dumps(queue.pending_message(json.load(sys.stdin))))")
    env = {**kube.env(), "PYTHONPATH": str(ROOT / "operator"), "KUBECONFIG": str(kubeconfig or kube.cluster.kubeconfig)}
    env.pop("TUNEFORGE_KUBE_SERVER", None)
    proc = subprocess.run([f"{venv}/bin/python", "-c", code], input=json.dumps(job), capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def a_job(kube) -> dict:
    name = f"held-{uuid.uuid4().hex[:6]}"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
           "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "worker", "image": "worker:1"}]}}}}
    kube.kubectl("create", "-f", "-", input=json.dumps(job), check=True)
    return kube.json("get", "job", name, "-n", "default")


def serve_workloads(kube, *versions: str) -> None:
    kube.kubectl("apply", "-f", "-", input=json.dumps(workload_crd(*versions)), check=True)
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/workloads.kueue.x-k8s.io", check=True)


def hold(kube, job: dict, version: str) -> None:
    """The Workload Kueue makes for `job`, with its QuotaReserved=False condition."""
    uid = job["metadata"]["uid"]
    workload = {"apiVersion": f"kueue.x-k8s.io/{version}", "kind": "Workload",
                "metadata": {"name": f"job-{job['metadata']['name']}", "namespace": "default",
                             "labels": {JOB_UID_LABEL: uid}},
                "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
                                           "message": REASON}]}}
    kube.kubectl("create", "-f", "-", input=json.dumps(workload), check=True)
    # An unrelated Workload in the same namespace: the label selector keeps it out.
    other = {**workload, "metadata": {"name": f"other-{uid[:8]}", "namespace": "default",
                                      "labels": {JOB_UID_LABEL: str(uuid.uuid4())}}}
    other["status"] = {"conditions": [{"type": "QuotaReserved", "status": "False", "message": "not this one"}]}
    kube.kubectl("create", "-f", "-", input=json.dumps(other), check=True)


@pytest.mark.parametrize("versions", [("v1beta2", "v1beta1"), ("v1beta1",)], ids=["v1beta2", "v1beta1-only"])
def test_the_reason_comes_from_the_jobs_workload_in_the_version_the_server_serves(server, versions):
    serve_workloads(server, *versions)
    job = a_job(server)
    assert pending_message(server, job) is None  # no Workload yet: Kueue has not seen the Job
    hold(server, job, versions[0])
    assert pending_message(server, job) == REASON


def test_an_admitted_workload_gives_no_reason(server):
    serve_workloads(server, "v1beta2")
    job = a_job(server)
    hold(server, job, "v1beta2")
    patch = {"status": {"conditions": [{"type": "QuotaReserved", "status": "True", "reason": "QuotaReserved",
                                        "message": "Quota reserved in ClusterQueue team"}]}}
    server.kubectl("patch", "workload", f"job-{job['metadata']['name']}", "-n", "default", "--type=merge",
                   "-p", json.dumps(patch), check=True)
    assert pending_message(server, job) is None


def test_without_kueue_or_without_permission_the_reason_is_none(server):
    job = a_job(server)
    assert server.kubectl("get", "crd", "workloads.kueue.x-k8s.io").returncode != 0
    assert pending_message(server, job) is None  # 404 for both versions

    serve_workloads(server, "v1beta2")
    hold(server, job, "v1beta2")
    assert pending_message(server, job) == REASON
    # The same call as a user the server refuses (403): no reason, no exception.
    pki = server.cluster.pki
    control_plane.client_certificate(pki, "nobody", "nobody")
    nobody = control_plane.kubeconfig(pki / "nobody.kubeconfig", server.cluster.server, pki, "nobody")
    refused = server.kubectl("--kubeconfig", str(nobody), "get", "workloads.kueue.x-k8s.io", "-n", "default")
    assert "Forbidden" in refused.stderr, refused.stderr
    assert pending_message(server, job, nobody) is None
