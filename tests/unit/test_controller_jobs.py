"""The operator's pure builders: the child Job (carrying the worker spec), its Service, and input resolution."""

import json
import re

import pytest
from support.builders import finetune, merge, quantize
from support.podsecurity import violations

from tuneforge.api.sources import secret_env
from tuneforge.api.manifest import parse
from tuneforge.backends import backend_for
from tuneforge.controller import chaining, jobs
from tuneforge.controller.settings import Settings

SETTINGS = Settings(cache_claim="model-cache", default_output_claim="outputs")


def build(doc, uid="uid-1"):
    resource, issues = parse(dict(doc))
    assert not issues, issues
    plan = backend_for(resource).worker_plan(resource)
    spec = chaining.worker_spec(dict(doc), lambda k, n: None, SETTINGS).spec or {"spec": dict(doc)["spec"]}
    return resource, plan, jobs.job(resource, plan, SETTINGS, spec, uid)


def test_one_deterministic_name_and_adoption():
    resource, _, job = build(finetune("lora", name="smol-lora"))
    assert job["metadata"]["name"] == jobs.child_name(resource) == "smol-lora-ftj"
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "tuneforge.io/v1alpha1", "kind": "FineTuneJob",
                                                   "name": "smol-lora", "uid": "uid-1", "controller": True,
                                                   "blockOwnerDeletion": True}]
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "tuneforge" and labels["tuneforge.io/job"] == "smol-lora"
    assert labels["tuneforge.io/kind"] == "FineTuneJob" and labels["tuneforge.io/backend"] == "finetune"
    assert job["spec"]["template"]["metadata"]["labels"] == {k: v for k, v in labels.items()}


@pytest.mark.parametrize("doc", [finetune("lora"), finetune("qlora").set("spec.resources", {"gpus": 1}),
                                 finetune("full").set("spec.resources", {"gpus": 8, "nodes": 2}),
                                 merge("ties"), quantize("gguf"), quantize("exl2")],
                         ids=["lora", "qlora", "multinode", "merge", "gguf", "exl2"])
def test_every_pod_meets_pod_security_restricted(doc):
    _, _, job = build(doc)
    assert violations(job["spec"]["template"]["spec"]) == []


def test_the_restricted_check_itself_catches_violations():
    assert violations({"hostNetwork": True, "containers": [{"name": "c", "securityContext": {"privileged": True}}],
                       "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}) == [
        "hostNetwork must be false", "volume h: type {'hostPath'} not allowed", "container c: privileged",
        "container c: allowPrivilegeEscalation must be false", "container c: capabilities must drop ALL",
        "container c: runAsNonRoot must be true", "container c: seccompProfile must be RuntimeDefault or Localhost"]


def test_gpus_scheduling_and_run_policy():
    doc = finetune("qlora").set("spec.resources", {"gpus": 2, "memory": "64Gi", "cpu": 8, "sharedMemory": "16Gi"})
    doc.set("spec.scheduling", {"nodeSelector": {"gpu": "h100"}, "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                                "priorityClassName": "high", "serviceAccountName": "trainer", "queueName": "team-a",
                                "imagePullSecrets": [{"name": "regcred"}]})
    doc.set("spec.runPolicy", {"backoffLimit": 4, "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 600})
    _, _, job = build(doc)
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["resources"] == {"requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": 2},
                              "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": 2}}
    assert c["command"][:2] == ["torchrun", "--nproc_per_node=2"]
    assert c["image"] == "ghcr.io/tuneforge/finetune:0.1.0"
    assert pod["nodeSelector"] == {"gpu": "h100"} and pod["priorityClassName"] == "high"
    assert pod["serviceAccountName"] == "trainer" and pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in pod["volumes"]
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert job["spec"]["suspend"] is True, "Kueue admits a queued Job by unsuspending it"
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"], job["spec"]["ttlSecondsAfterFinished"]) == (4, 3600, 600)
    assert job["spec"]["podFailurePolicy"]["rules"][0] == {  # invalid input, a failed gate
        "action": "FailJob", "onExitCodes": {"containerName": "worker", "operator": "In", "values": [2, 3]}}


def test_secrets_only_as_secret_key_refs():
    doc = finetune("lora").set("spec.model", {"uri": "hf://org/m", "secretRef": {"name": "hf-token"}})
    doc.set("spec.output", {"uri": "s3://bucket/out", "secretRef": {"name": "s3-creds"}})
    doc.set("spec.dataset", {"uri": "s3://bucket/rows.jsonl", "secretRef": {"name": "s3-creds"}})
    _, _, job = build(doc)
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    token = secret_env("hf-token", "token")
    assert env[token] == {"name": token, "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}
    assert env[secret_env("s3-creds", "AWS_ACCESS_KEY_ID")]["valueFrom"]["secretKeyRef"] == {
        "name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"}
    # Keys an S3-compatible store may not need are optional, so a Secret without them still starts the pod.
    assert env[secret_env("s3-creds", "AWS_ENDPOINT_URL")]["valueFrom"]["secretKeyRef"] == {
        "name": "s3-creds", "key": "AWS_ENDPOINT_URL", "optional": True}
    secret_vars = [e for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"].startswith("TUNEFORGE_SECRET_")]
    assert len(secret_vars) == 1 + 5, "the same Secret used twice is mounted once"
    assert all("value" not in e for e in secret_vars)


def test_secret_env_names_are_valid_and_distinct():
    names = {secret_env(n, k) for n, k in [("a-b", "token"), ("a.b", "token"), ("a-b", "TOKEN"), ("ab", "token")]}
    assert len(names) == 4
    assert all(re.fullmatch(r"[A-Z_][A-Z0-9_]*", n) for n in names)


def test_the_worker_reads_its_spec_from_its_own_pod_annotation():
    doc = finetune("lora", name="smol")
    _, plan, job = build(doc)
    template = job["spec"]["template"]
    spec = json.loads(template["metadata"]["annotations"][jobs.ANNOTATION_WORKER_SPEC])
    assert spec["kind"] == "FineTuneJob" and spec["spec"]["model"] == dict(doc)["spec"]["model"]
    parsed, issues = parse(spec)
    assert parsed is not None, issues
    volume = next(v for v in template["spec"]["volumes"] if v["name"] == "spec")
    assert volume == {"name": "spec", "downwardAPI": {"items": [{
        "path": "spec.json", "fieldRef": {"fieldPath": "metadata.annotations['tuneforge.io/worker-spec']"}}]}}
    mount = next(m for m in template["spec"]["containers"][0]["volumeMounts"] if m["name"] == "spec")
    assert f'{mount["mountPath"]}/spec.json' in plan.command  # the path the worker is told to read


def test_volumes_for_cache_spec_and_pvc_sources():
    doc = finetune("lora").set("spec.dataset", {"uri": "pvc://datasets/chat.jsonl", "format": "chat"})
    _, _, job = build(doc)
    pod = job["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
    assert mounts["spec"] == "/etc/tuneforge" and mounts["cache"] == "/cache"
    assert claims["cache"] == "model-cache"
    assert {claims[n] for n in mounts if n.startswith("pvc-")} == {"datasets", "outputs"}
    assert mounts["pvc-0"] == "/mnt/pvc/datasets"


def test_multi_node_is_an_indexed_job_behind_a_headless_service():
    resource, _, job = build(finetune("full").set("spec.resources", {"gpus": 8, "nodes": 4}).set("spec.deepspeed", {"stage": 3}))
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["spec"]["parallelism"]) == ("Indexed", 4, 4)
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == "ft-ftj"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["TUNEFORGE_RENDEZVOUS_HOST"] == "ft-ftj-0.ft-ftj"
    svc = jobs.headless_service(resource, "finetune")
    assert svc["spec"]["clusterIP"] == "None" and svc["metadata"]["name"] == "ft-ftj"
    assert svc["spec"]["selector"] == {"tuneforge.io/job": "ft", "tuneforge.io/kind": "FineTuneJob"}


def test_merges_stay_on_cpu():
    _, plan, job = build(merge("ties"))
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in json.dumps(c["resources"]) and plan.backend == "mergekit"
    assert {"name": "CUDA_VISIBLE_DEVICES", "value": ""} in c["env"]


def test_from_job_resolution():
    upstream = {"status": {"phase": "Succeeded", "output": {"uri": "pvc://outputs/ns/ft"}}}
    doc = dict(merge("slerp"))
    doc["metadata"]["namespace"] = "ns"
    res = chaining.worker_spec(doc, lambda kind, name: upstream if (kind, name) == ("FineTuneJob", "ft") else None, SETTINGS)
    assert res.spec["spec"]["models"][1]["model"] == {"uri": "pvc://outputs/ns/ft"}
    assert res.spec["spec"]["output"]["uri"] == "pvc://outputs/ns/mj"
    assert chaining.worker_spec(doc, lambda k, n: None, SETTINGS).missing == ["FineTuneJob/ft"]
    running = {"status": {"phase": "Running"}}
    assert chaining.worker_spec(doc, lambda k, n: running, SETTINGS).waiting == ["FineTuneJob/ft"]
    failed = {"status": {"phase": "Failed", "message": "OOMKilled"}}
    assert chaining.worker_spec(doc, lambda k, n: failed, SETTINGS).failed == ["FineTuneJob/ft failed: OOMKilled"]


def test_output_needs_a_location_without_a_default_volume():
    res = chaining.worker_spec(dict(finetune("lora")), lambda k, n: None, Settings())
    assert res.spec is None and res.failed[0].startswith("spec.output.uri: set where the result goes")


GPU_NODES = {"nodeSelector": {"nvidia.com/gpu.present": "true"},
             "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
             "resources": {"requests": {"cpu": "4", "memory": "32Gi"}, "limits": {"memory": "32Gi"}}}


def test_backend_defaults_apply_when_the_spec_says_nothing():
    settings = Settings(backend_defaults={"finetune": GPU_NODES, "gguf": {"resources": {"requests": {"cpu": "2"}}}})
    resource, issues = parse(dict(finetune("qlora").set("spec.resources", {"gpus": 1, "memory": "48Gi"})))
    pod = jobs.job(resource, backend_for(resource).worker_plan(resource), settings, {"spec": {}})["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == GPU_NODES["nodeSelector"] and pod["tolerations"] == GPU_NODES["tolerations"]
    # The spec's values win key by key; the default fills the rest.
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "4", "memory": "48Gi", "nvidia.com/gpu": 1},
                                                 "limits": {"memory": "48Gi", "nvidia.com/gpu": 1}}
    # The spec's placement replaces the default's.
    doc = finetune("lora").set("spec.scheduling", {"nodeSelector": {"pool": "a100"}})
    resource, _ = parse(dict(doc))
    pod = jobs.job(resource, backend_for(resource).worker_plan(resource), settings, {"spec": {}})["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "a100"} and pod["tolerations"] == GPU_NODES["tolerations"]
    # Another backend gets its own defaults, not the fine-tune's.
    resource, _ = parse(dict(quantize("gguf")))
    pod = jobs.job(resource, backend_for(resource).worker_plan(resource), settings, {"spec": {}})["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "2"}}


@pytest.mark.parametrize("value, message", [
    ("{not json", "TUNEFORGE_BACKEND_DEFAULTS is not JSON"),
    ('{"finetuning": {}}', "must map backends (awq, autoawq, exl2, finetune, gguf, mergekit) to objects; unknown: finetuning"),
    ('{"gguf": []}', "must map backends"),
])
def test_backend_defaults_from_the_environment_say_what_is_wrong(monkeypatch, value, message):
    monkeypatch.setenv("TUNEFORGE_BACKEND_DEFAULTS", value)
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.from_env()


def test_tracking_and_checkpoint_secrets_and_the_grace_period():
    doc = finetune("lora").set("spec.tracking", {"mlflow": {"trackingUri": "https://mlflow.example",
                                                            "secretRef": {"name": "mlflow-creds"}}})
    doc.set("spec.checkpoints", {"uri": "s3://ckpt/run", "secretRef": {"name": "ckpt-s3"}, "gracePeriodSeconds": 90})
    _, _, job = build(doc)
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in pod["containers"][0]["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        assert env[secret_env("mlflow-creds", key)] == {"name": "mlflow-creds", "key": key, "optional": True}
    assert env[secret_env("ckpt-s3", "AWS_SECRET_ACCESS_KEY")] == {"name": "ckpt-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    assert pod["terminationGracePeriodSeconds"] == 90
    assert build(finetune("lora"))[2]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 300
    assert "terminationGracePeriodSeconds" not in build(quantize("gguf"))[2]["spec"]["template"]["spec"]
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]} in rules


def test_the_worker_is_told_its_cpu_limit_through_the_downward_api():
    _, _, job = build(finetune("lora").set("spec.resources", {"cpu": 3}))
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["TUNEFORGE_CPU_LIMIT"]["valueFrom"] == {"resourceFieldRef": {"containerName": container["name"],
                                                                            "resource": "limits.cpu"}}
    assert container["resources"]["limits"]["cpu"] == "3"
