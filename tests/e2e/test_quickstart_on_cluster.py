"""The quickstart as a platform team meets it: `helm install`, then `kubectl apply` of
examples/quickstart.yaml (steps lowered with a kustomize patch, as a user would), the real Job
controller, worker pods really run by the node stand-in in a namespace that enforces Pod Security
"restricted", and `kubectl wait` / `kubectl get` / `kubectl logs` as a user types them."""

from __future__ import annotations

import json

import pytest
import yaml
from support.builders import quantize
from support.clusterkit import FEW_STEPS, describe, finetune, kustomized, node_path, restricted_namespace

pytestmark = pytest.mark.slow


def test_kubectl_apply_of_the_quickstart_reaches_succeeded_with_real_workers(operator, tmp_path):
    ns = restricted_namespace(operator, "quickstart")
    operator.kubectl("apply", "-k", str(kustomized(tmp_path, ns, FEW_STEPS)), check=True)
    wait = operator.kubectl("wait", "-n", ns, "--for=condition=Succeeded", "--timeout=900s",
                            "finetunejob/quickstart", "quantizejob/quickstart-gguf", timeout=960)
    assert wait.returncode == 0, wait.stderr + describe(operator, ns)

    table = operator.kubectl("get", "ftj,qj", "-n", ns, check=True).stdout
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line.strip() and "/" in line.split()[0]}
    ftj, qj = rows["finetunejob.tuneforge.io/quickstart"], rows["quantizejob.tuneforge.io/quickstart-gguf"]
    assert ftj[1:4] == ["lora", "Succeeded", "100"] and float(ftj[4]) > 0, table  # method, phase, progress, loss
    assert qj[1:3] == ["gguf", "Succeeded"], table

    # The worker's result, from the termination message file the kubelet created for it (bug 1).
    first = operator.json("get", "ftj", "quickstart", "-n", ns)["status"]
    assert first["output"]["uri"] == f"pvc://outputs/{ns}/quickstart" and first["output"]["files"] > 5
    assert first["output"]["finalLoss"] > 0
    second = operator.json("get", "qj", "quickstart-gguf", "-n", ns)["status"]
    assert second["output"]["uri"] == f"pvc://outputs/{ns}/quickstart-gguf"
    folder = node_path(operator, ns, "outputs") / ns / "quickstart-gguf"
    record = json.loads((folder / "tuneforge-output.json").read_text())
    assert record["inputs"]["model"]["source"].startswith(f"pvc://outputs/{ns}/quickstart"), record["inputs"]
    assert (folder / record["artifacts"]["q4_k_m"]).stat().st_size > 50_000_000

    events = operator.kubectl("get", "events", "-n", ns, "-o", "json", check=True).stdout
    reasons = {(e["involvedObject"]["kind"], e["reason"]) for e in json.loads(events)["items"]}
    assert ("FineTuneJob", "JobCreated") in reasons and ("QuantizeJob", "Succeeded") in reasons, reasons
    logs = operator.kubectl("logs", "-n", ns, "job/quickstart-ftj", check=True).stdout
    assert "::tuneforge::result" in logs


def test_a_worker_that_fails_is_failed_with_its_own_message_and_stops_its_chain(operator):
    ns = restricted_namespace(operator, "failing")
    doc = finetune("nodata", dataset={"uri": "pvc://data/chats.jsonl", "format": "chat"})
    downstream = quantize(name="after").set("spec.model", {"fromJob": {"kind": "FineTuneJob", "name": "nodata"}})
    operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all([downstream, doc]), check=True)
    wait = operator.kubectl("wait", "-n", ns, "--for=condition=Failed", "--timeout=300s", "ftj/nodata", "qj/after",
                            timeout=360)
    assert wait.returncode == 0, wait.stderr + describe(operator, ns)
    message = operator.json("get", "ftj", "nodata", "-n", ns)["status"]["message"]
    assert message.startswith("the worker failed: pvc://data/chats.jsonl:") and "does not exist" in message, message
    after = operator.json("get", "qj", "after", "-n", ns)["status"]["message"]
    assert after.startswith("FineTuneJob/nodata failed: the worker failed: pvc://data/chats.jsonl:"), after
    assert [j["metadata"]["name"] for j in operator.json("get", "jobs", "-n", ns)["items"]] == ["nodata-ftj"]


def test_an_out_of_memory_worker_gets_the_helpful_reason(operator):
    ns = restricted_namespace(operator, "oom")
    doc = finetune("small", resources={"memory": "150Mi"})
    operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc), check=True)
    wait = operator.kubectl("wait", "-n", ns, "--for=condition=Failed", "--timeout=300s", "ftj/small", timeout=360)
    assert wait.returncode == 0, wait.stderr + describe(operator, ns)
    pod = operator.json("get", "pods", "-n", ns, "-l", "job-name=small-ftj")["items"][0]
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
    message = operator.json("get", "ftj", "small", "-n", ns)["status"]["message"]
    assert message.startswith("the worker ran out of memory (OOMKilled)"), message


@pytest.mark.parametrize("verb, resource, allowed", [
    ("create", "jobs.batch", True), ("patch", "jobs.batch", True), ("delete", "jobs.batch", False),
    ("get", "secrets", False), ("list", "secrets", False), ("update", "finetunejobs.tuneforge.io", False),
    ("patch", "finetunejobs.tuneforge.io/status", True), ("update", "finetunejobs.tuneforge.io/finalizers", True),
    ("create", "pods", False), ("delete", "finetunejobs.tuneforge.io", False),
])
def test_the_operators_service_account_has_the_charts_permissions_and_no_more(operator, verb, resource, allowed):
    """Asked of the real RBAC authorizer (a SubjectAccessReview), as the ServiceAccount the operator runs as."""
    kind, _, subresource = resource.partition("/")  # `can-i verb kind/name` would name an object
    proc = operator.kubectl("auth", "can-i", verb, kind, *([f"--subresource={subresource}"] if subresource else []),
                            "-n", "default", "--as=system:serviceaccount:tuneforge-system:tf-tuneforge")
    assert proc.stdout.strip() == ("yes" if allowed else "no"), proc.stdout + proc.stderr
