"""Multi-node fine-tuning on the real control plane: `resources.nodes: 2` becomes an Indexed Job of two
pods behind a headless Service; the real Job controller gives them their hostnames and completion
indexes, they meet at the static rendezvous on index 0 (the node's hosts file answers as cluster DNS),
train one model together (gloo on CPU), and the result is read from rank 0 although rank 1 is seen
finishing last."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from support.clusterkit import describe, finetune, node_path, restricted_namespace

pytestmark = pytest.mark.slow


def finished_at(pod: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(pod["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"])


def test_two_pods_train_one_model_and_rank_zero_reports(operator):
    ns = restricted_namespace(operator, "multinode")
    # The node reports rank 1's end 8 s after its process ended: it is seen finishing last.
    delays = operator.cluster.root / "node" / "report-delays.json"
    delays.write_text(json.dumps({"pair-ftj-1-.*": 8}))
    try:
        doc = finetune("pair", resources={"nodes": 2})
        operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc), check=True)
        wait = operator.kubectl("wait", "-n", ns, "--for=condition=Succeeded", "--timeout=600s", "ftj/pair", timeout=660)
        assert wait.returncode == 0, wait.stderr + describe(operator, ns)
    finally:
        delays.unlink()

    job = operator.json("get", "job", "pair-ftj", "-n", ns)
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["status"]["succeeded"]) == ("Indexed", 2, 2)
    service = operator.json("get", "service", "pair-ftj", "-n", ns)
    assert service["spec"]["clusterIP"] == "None" and service["metadata"]["ownerReferences"][0]["name"] == "pair"
    pods = {p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]: p
            for p in operator.json("get", "pods", "-n", ns, "-l", "job-name=pair-ftj")["items"]}
    assert sorted(pods) == ["0", "1"]
    assert finished_at(pods["1"]) > finished_at(pods["0"])
    assert not pods["1"]["status"]["containerStatuses"][0]["state"]["terminated"].get("message")  # rank 1 prints no result

    status = operator.json("get", "ftj", "pair", "-n", ns)["status"]
    assert status["output"]["uri"] == f"pvc://outputs/{ns}/pair", status
    record = json.loads((node_path(operator, ns, "outputs") / ns / "pair" / "tuneforge-output.json").read_text())
    assert record["metrics"]["worldSize"] == 2 and record["metrics"]["distributedType"] == "MULTI_CPU", record["metrics"]
    rank1 = operator.kubectl("logs", "-n", ns, pods["1"]["metadata"]["name"], check=True).stdout
    assert "::tuneforge::result" not in rank1
