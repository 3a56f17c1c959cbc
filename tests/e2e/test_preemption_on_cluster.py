"""A training pod evicted through the Eviction API on the real control plane (API server, the Job
controller of kube-controller-manager) with the node stand-in, which stops a deleted pod as the
kubelet does (SIGTERM, the pod's grace period, then SIGKILL): the worker saves a checkpoint, the Job
makes a new pod, which resumes from it; with backoffLimit 0 the retry shows that the disruption was
not counted against it (the operator's podFailurePolicy ignores DisruptionTarget). The job tracks to
a real MLflow server (pods on the stand-in share this machine's loopback): the resumed pod continues
the same MLflow run, whose id the status shows."""

from __future__ import annotations

import json

import pytest
import yaml
from support import mlflow_server
from support.clusterkit import eventually, finetune, restricted_namespace

pytestmark = pytest.mark.slow
STEPS = 40


@pytest.fixture
def mlflow(tmp_path):
    srv = mlflow_server.start(tmp_path)
    yield srv
    srv.stop()


def test_an_evicted_pod_resumes_in_the_next_one(operator, tmp_path, mlflow):
    ns = restricted_namespace(operator, "preempt")
    doc = finetune("evicted", training={"maxSteps": STEPS, "maxLength": 64, "batchSize": 1, "saveSteps": 1000},
                   runPolicy={"backoffLimit": 0}, checkpoints={"gracePeriodSeconds": 120},
                   tracking={"mlflow": {"trackingUri": mlflow.url, "experiment": "evictions"}})
    operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc), check=True)

    def step():
        return ((operator.json("get", "ftj", "evicted", "-n", ns).get("status") or {}).get("progress") or {}).get("step")
    assert (eventually(lambda: (step() or 0) >= 3, 300) is True), step()
    pods = operator.json("get", "pods", "-n", ns, "-l", "tuneforge.io/job=evicted")["items"]
    assert len(pods) == 1 and pods[0]["spec"]["terminationGracePeriodSeconds"] == 120
    first = pods[0]["metadata"]["name"]
    eviction = tmp_path / "eviction.json"
    eviction.write_text(json.dumps({"apiVersion": "policy/v1", "kind": "Eviction",
                                    "metadata": {"name": first, "namespace": ns}}))
    operator.kubectl("create", "--raw", f"/api/v1/namespaces/{ns}/pods/{first}/eviction", "-f", str(eviction), check=True)

    def replacement():
        items = operator.json("get", "pods", "-n", ns, "-l", "tuneforge.io/job=evicted")["items"]
        return [p["metadata"]["name"] for p in items if p["metadata"]["name"] != first]
    assert eventually(replacement, 300), "the Job made no new pod after the eviction"
    wait = operator.kubectl("wait", "-n", ns, "--for=condition=Succeeded", "--timeout=900s", "ftj/evicted", timeout=960)
    status = operator.json("get", "ftj", "evicted", "-n", ns)["status"]
    assert wait.returncode == 0, (wait.stderr, status)
    progress = status["progress"]
    assert progress["resumedFrom"].startswith("checkpoint-") and progress["restarts"] == 1, progress
    resumed_at = int(progress["resumedFrom"].split("-")[1])
    assert 3 <= resumed_at < STEPS
    job = operator.json("get", "job", "evicted-ftj", "-n", ns)["status"]
    assert job.get("succeeded") == 1 and not job.get("failed"), f"the eviction counted as a failure: {job}"
    logs = operator.kubectl("logs", "-n", ns, f"pod/{replacement()[0]}").stdout
    assert "resuming from" in logs and f"checkpoint-{resumed_at}" in logs

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow.url)
    run = client.get_run(status["output"]["mlflowRunId"])
    assert run.info.status == "FINISHED" and run.data.tags["tuneforge.resumed"] == "true"
    assert run.data.tags["tuneforge.output"] == status["output"]["uri"]
    steps = {m.step for m in client.get_metric_history(run.info.run_id, "loss")}
    assert min(steps) <= resumed_at < STEPS == max(steps), "both pods logged into the one run"
    assert len(client.search_runs([run.info.experiment_id])) == 1
