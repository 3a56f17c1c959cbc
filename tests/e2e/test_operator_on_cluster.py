"""The operator's own part on the real control plane, with no worker needed: each kind's Job, a resource
the CRD admits and the operator refuses, credentials that stay in their Secret, a Kueue queue, and
restarts while resources arrive. Resources are created suspended (runPolicy.suspend) where the test
is about what the operator writes, not what a worker does."""

from __future__ import annotations

import json

import pytest
import yaml
from support.builders import BUILTIN_MODEL, merge, quantize
from support.clusterkit import describe, eventually, finetune, kill_operator, restricted_namespace

pytestmark = pytest.mark.slow

HELD = {"suspend": True}


def apply(kube, ns: str, *docs: dict) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs), check=True)


def status(kube, ns: str, kind: str, name: str) -> dict:
    return kube.json("get", kind, name, "-n", ns).get("status") or {}


def test_each_kind_gets_one_owned_job_with_its_backends_image(operator):
    ns = restricted_namespace(operator, "kinds")
    docs = [finetune("ft", runPolicy=HELD),
            merge("linear", "mj").drop("spec.baseModel")
            # Two distinct inputs (mergekit refuses one model twice); the hub's is never fetched while held.
            .set("spec.models", [{"model": BUILTIN_MODEL, "parameters": {"weight": 0.5}},
                                 {"model": {"uri": "hf://HuggingFaceTB/SmolLM2-135M"}, "parameters": {"weight": 0.5}}])
            .set("spec.runPolicy", HELD),
            quantize(name="qj").set("spec.runPolicy", HELD)]
    apply(operator, ns, *docs)
    for kind, name, job, image in (("ftj", "ft", "ft-ftj", "/finetune:"), ("mj", "mj", "mj-mj", "/mergekit:"),
                                   ("qj", "qj", "qj-qj", "/gguf:")):
        assert eventually(lambda: status(operator, ns, kind, name).get("phase") == "Suspended", 60), describe(operator, ns)
        found = operator.json("get", "job", job, "-n", ns)
        owner = operator.json("get", kind, name, "-n", ns)
        ref = found["metadata"]["ownerReferences"][0]
        assert (ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) == (owner["metadata"]["uid"], True, True)
        assert image in found["spec"]["template"]["spec"]["containers"][0]["image"]
        assert status(operator, ns, kind, name)["jobName"] == job
        # The operator's bookkeeping stays in status: metadata is what was applied (no GitOps drift).
        assert not owner["metadata"].get("annotations", {}).keys() - {"kubectl.kubernetes.io/last-applied-configuration"}
    assert len(operator.json("get", "jobs", "-n", ns)["items"]) == 3


def test_a_resource_the_crd_admits_but_the_operator_refuses_is_stalled_and_others_are_served(operator):
    ns = restricted_namespace(operator, "refused")
    bad = finetune("bad", dataset={"uri": "builtin://chat-mini", "format": "instruction"}, runPolicy=HELD)
    apply(operator, ns, bad, finetune("good", runPolicy=HELD))
    assert eventually(lambda: status(operator, ns, "ftj", "bad").get("phase") == "Failed", 60), describe(operator, ns)
    found = status(operator, ns, "ftj", "bad")
    assert found["message"] == "spec.dataset.format: builtin://chat-mini holds chat rows, not instruction", found
    assert {c["type"]: c["status"] for c in found["conditions"]}["Stalled"] == "True"
    assert eventually(lambda: status(operator, ns, "ftj", "good").get("phase") == "Suspended", 60)
    assert [j["metadata"]["name"] for j in operator.json("get", "jobs", "-n", ns)["items"]] == ["good-ftj"]
    events = operator.json("get", "events", "-n", ns)["items"]
    assert any(e["reason"] == "InvalidSpec" and e["involvedObject"]["name"] == "bad" for e in events)


def test_credentials_appear_in_no_object_the_operator_writes(operator):
    ns = restricted_namespace(operator, "secrets")
    token = "hf_leaktest_5f4e3d2c1b0a99887766"
    operator.kubectl("create", "secret", "generic", "hf-token", f"--from-literal=token={token}", "-n", ns, check=True)
    doc = finetune("private", model={"uri": "hf://org/private-model", "secretRef": {"name": "hf-token"}}, runPolicy=HELD)
    apply(operator, ns, doc)
    assert eventually(lambda: status(operator, ns, "ftj", "private").get("phase") == "Suspended", 60), describe(operator, ns)
    env = operator.json("get", "job", "private-ftj", "-n", ns)["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = [e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})]
    assert refs == [{"name": "hf-token", "key": "token"}]
    written = json.dumps([operator.json("get", kind, "-n", ns) for kind in ("jobs", "events", "ftj")])
    assert "hf-token" in written, "the dump holds the objects it should"
    assert token not in written


def test_a_queued_job_waits_for_kueue_and_runs_when_admitted(operator):
    ns = restricted_namespace(operator, "queued")
    apply(operator, ns, finetune("queued", scheduling={"queueName": "team-a"}))
    assert eventually(lambda: status(operator, ns, "ftj", "queued").get("phase") == "Suspended", 60), describe(operator, ns)
    job = operator.json("get", "job", "queued-ftj", "-n", ns)
    assert job["spec"]["suspend"] is True and job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert operator.json("get", "pods", "-n", ns)["items"] == []
    # Kueue admits a workload by unsuspending its Job; the real Job controller then creates the pod.
    operator.kubectl("patch", "job", "queued-ftj", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":false}}', check=True)
    assert eventually(lambda: status(operator, ns, "ftj", "queued").get("phase") in ("Pending", "Running"), 60)
    assert eventually(lambda: operator.json("get", "pods", "-n", ns)["items"], 60)
    operator.kubectl("delete", "ftj", "queued", "-n", ns, "--wait=true", check=True)
    assert eventually(lambda: operator.json("get", "jobs,pods", "-n", ns)["items"] == [], 90)


def test_restarts_while_resources_arrive_leave_every_resource_with_its_job(operator):
    ns = restricted_namespace(operator, "arriving")
    names = []
    for batch in range(3):
        batch_names = [f"r{batch}-{i}" for i in range(3)]
        apply(operator, ns, *(finetune(name, runPolicy=HELD) for name in batch_names))
        names += batch_names
        kill_operator(operator)
    for name in names:
        assert eventually(lambda: status(operator, ns, "ftj", name).get("phase") == "Suspended", 120), describe(operator, ns)
    jobs = operator.json("get", "jobs", "-n", ns)["items"]
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(f"{n}-ftj" for n in names)
    uids = {r["metadata"]["uid"] for r in operator.json("get", "ftj", "-n", ns)["items"]}
    assert all(j["metadata"]["ownerReferences"][0]["uid"] in uids for j in jobs)
