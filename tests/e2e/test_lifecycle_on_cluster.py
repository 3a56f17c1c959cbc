"""A job's life on the real control plane: suspended and resumed through runPolicy.suspend, cleaned up
by the real TTL controller, progress read from a running worker's log, deleted through the real garbage
collector, and a spec change after the start (a real generation bump) reported and not applied."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from support.clusterkit import eventually, finetune, restricted_namespace

pytestmark = pytest.mark.slow


def test_suspend_resume_and_ttl(operator):
    ns = restricted_namespace(operator, "lifecycle")
    doc = finetune("paused", runPolicy={"suspend": True, "ttlSecondsAfterFinished": 3})
    operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc), check=True)
    assert eventually(lambda: operator.json("get", "ftj", "paused", "-n", ns).get("status", {}).get("phase") == "Suspended")
    job = operator.json("get", "job", "paused-ftj", "-n", ns)
    assert job["spec"]["suspend"] is True
    assert operator.json("get", "pods", "-n", ns)["items"] == []

    operator.kubectl("patch", "ftj", "paused", "-n", ns, "--type=merge", "-p", '{"spec":{"runPolicy":{"suspend":false}}}', check=True)
    assert eventually(lambda: operator.json("get", "job", "paused-ftj", "-n", ns)["spec"]["suspend"] is False, 60)
    wait = operator.kubectl("wait", "-n", ns, "--for=condition=Succeeded", "--timeout=600s", "ftj/paused", timeout=660)
    assert wait.returncode == 0, wait.stderr
    # The TTL controller deletes the finished Job; the resource and its status stay (GitOps stays in sync).
    gone = eventually(lambda: operator.kubectl("get", "job", "paused-ftj", "-n", ns).returncode != 0, 60)
    assert gone, "the TTL controller did not delete the Job"
    time.sleep(3)
    status = operator.json("get", "ftj", "paused", "-n", ns)["status"]
    assert status["phase"] == "Succeeded" and status["output"]["uri"].startswith("pvc://")
    reasons = [e["reason"] for e in operator.json("get", "events", "-n", ns)["items"] if e["involvedObject"]["name"] == "paused"]
    assert "Resumed" in reasons, reasons


def test_a_spec_change_after_the_start_is_reported_and_deletion_cleans_up(operator):
    ns = restricted_namespace(operator, "changes")
    operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(finetune("long", training={"maxSteps": 500, "maxLength": 64, "batchSize": 1})), check=True)
    assert eventually(lambda: operator.json("get", "ftj", "long", "-n", ns).get("status", {}).get("phase") == "Running", 180)

    # Progress comes from the worker's protocol lines in its log, read through the API server.
    def progress():
        seen = operator.json("get", "ftj", "long", "-n", ns)["status"].get("progress") or {}
        return seen if seen.get("step") else None
    seen = eventually(progress, 180)
    assert seen and seen["totalSteps"] == 500 and 0 <= seen["percent"] < 100 and seen["loss"] > 0, seen
    operator.kubectl("patch", "ftj", "long", "-n", ns, "--type=merge", "-p", '{"spec":{"training":{"maxSteps":5}}}', check=True)
    resource = operator.json("get", "ftj", "long", "-n", ns)
    assert resource["metadata"]["generation"] == 2
    def spec_applied():
        conditions = operator.json("get", "ftj", "long", "-n", ns)["status"].get("conditions") or []
        return next((c for c in conditions if c["type"] == "SpecApplied"), None)

    condition = eventually(spec_applied, 30)
    assert condition and condition["status"] == "False" and condition["reason"] == "SpecChangeIgnored", condition
    assert condition["message"].startswith("spec changed after the job started (training.maxSteps); the change is not applied")
    time.sleep(6)  # the progress timer and pod events rewrite the status meanwhile; the condition stays
    assert spec_applied() == condition
    reasons = [e["reason"] for e in operator.json("get", "events", "-n", ns)["items"] if e["involvedObject"]["name"] == "long"]
    assert "SpecChangeIgnored" in reasons
    job = operator.json("get", "job", "long-ftj", "-n", ns)
    assert json.loads(job["spec"]["template"]["metadata"]["annotations"]["tuneforge.io/worker-spec"])["spec"]["training"]["maxSteps"] == 500

    # Deleting the resource: the real garbage collector removes its Job and pods; no finalizer hangs.
    delete = operator.kubectl("delete", "ftj", "long", "-n", ns, "--timeout=60s", timeout=90)
    assert delete.returncode == 0, delete.stderr
    assert eventually(lambda: operator.json("get", "jobs,pods", "-n", ns)["items"] == [], 90), \
        operator.kubectl("get", "jobs,pods", "-n", ns).stdout
