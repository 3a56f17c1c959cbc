"""The operator killed (SIGKILL) at points of a reconcile and restarted by the node, with the workers
really running meanwhile: every resource still reaches its terminal phase with its output and Events,
each has exactly one Job, and no Job is left that no resource owns.

Each point is reached for certain, not by timing: the operator's ClusterRole loses the one permission
the next step needs, so the operator stops right there with the cluster's state as that step leaves
it; the process is killed, and the permission comes back before the node restarts it."""

from __future__ import annotations

import pytest
import yaml
from support.clusterkit import describe, eventually, finetune, kill_operator, restricted_namespace, without_permission

pytestmark = pytest.mark.slow


def phase(kube, ns, name):
    return (kube.json("get", "ftj", name, "-n", ns).get("status") or {}).get("phase")


def job_condition(kube, ns, name):
    job = kube.kubectl("get", "job", name, "-n", ns, "-o", "json")
    if job.returncode:
        return None
    conditions = yaml.safe_load(job.stdout)["status"].get("conditions") or []
    return next((c["type"] for c in conditions if c["type"] in ("Complete", "Failed") and c["status"] == "True"), None)


def test_a_killed_operator_leaves_every_resource_finished_with_one_owned_job(operator):
    ns = restricted_namespace(operator, "killed")
    apply = lambda doc: operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc), check=True)  # noqa: E731

    # "finished": its Job completes while the operator cannot write its status.
    apply(finetune("finished"))
    assert eventually(lambda: phase(operator, ns, "finished") == "Running", 180), describe(operator, ns)
    with without_permission(operator, "finetunejobs/status", "patch") as restore:
        # "unrecorded": the operator creates its Job and cannot record it in the status.
        apply(finetune("unrecorded"))
        assert eventually(lambda: job_condition(operator, ns, "finished-ftj") == "Complete", 300), describe(operator, ns)
        assert eventually(lambda: operator.kubectl("get", "job", "unrecorded-ftj", "-n", ns).returncode == 0, 60)
        assert phase(operator, ns, "finished") == "Running"
        assert not (operator.json("get", "ftj", "unrecorded", "-n", ns).get("status") or {}).get("jobName")
        kill_operator(operator, meanwhile=restore)

    # "refused": killed after its Job was refused, before any Job exists.
    with without_permission(operator, "jobs", "create") as restore:
        apply(finetune("refused"))
        def refused():
            conditions = (operator.json("get", "ftj", "refused", "-n", ns).get("status") or {}).get("conditions") or []
            return any(c.get("reason") == "JobRefused" for c in conditions)
        assert eventually(refused, 60), describe(operator, ns)
        assert operator.kubectl("get", "job", "refused-ftj", "-n", ns).returncode != 0
        kill_operator(operator, meanwhile=restore)

    names = ("finished", "unrecorded", "refused")
    for name in names:
        wait = operator.kubectl("wait", "-n", ns, "--for=condition=Succeeded", "--timeout=600s", f"ftj/{name}", timeout=660)
        assert wait.returncode == 0, wait.stderr + describe(operator, ns)

    resources = {r["metadata"]["name"]: r for r in operator.json("get", "ftj", "-n", ns)["items"]}
    for name in names:
        status = resources[name]["status"]
        assert status["jobName"] == f"{name}-ftj"
        assert status["output"]["uri"] == f"pvc://outputs/{ns}/{name}", status
        assert status["progress"]["percent"] == 100 and status["progress"]["loss"] > 0, status
    # One Job per resource, each owned by (controlled by) a resource that exists with that uid.
    uids = {r["metadata"]["uid"]: name for name, r in resources.items()}
    jobs = operator.json("get", "jobs", "-n", ns)["items"]
    owners = sorted(uids[ref["uid"]] for job in jobs for ref in job["metadata"]["ownerReferences"] if ref.get("controller"))
    assert owners == sorted(names) and len(jobs) == len(names), [j["metadata"]["name"] for j in jobs]

    events = operator.json("get", "events", "-n", ns)["items"]
    reasons = {name: {e["reason"] for e in events if e["involvedObject"]["name"] == name} for name in names}
    for name in names:
        assert "Succeeded" in reasons[name], reasons
    assert "JobAdopted" in reasons["unrecorded"], reasons  # the restarted operator found and recorded its Job
    assert {"JobRefused", "JobCreated"} <= reasons["refused"], reasons
