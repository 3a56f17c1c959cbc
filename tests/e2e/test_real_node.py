"""The images on a real node: the operator's image runs as the chart's Deployment (probed, scraped
through its Service, replaced when its pod is deleted), and the quickstart's workers run from the
finetune and gguf images in containerd, as uid 1000 under Pod Security `restricted`, sharing the model
cache claim. Only here do the Dockerfiles meet a kubelet: a change that breaks a worker at run time
fails these tests."""

from __future__ import annotations

import json

import pytest
from support import kueue
from support.builders import quantize
from support.clusterkit import (FEW_STEPS, OPERATOR, OPERATOR_NAMESPACE, describe, eventually, finetune, finished,
                                host_claims, kustomized, notes_manifest, restricted_namespace)

pytestmark = pytest.mark.slow


def operator_pods(kube) -> list[dict]:
    return kube.json("get", "pods", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/component=operator")["items"]


@pytest.mark.quickstart_node  # CI runs these (TUNEFORGE_REAL_NODE=quickstart)
def test_the_operator_image_runs_as_a_probed_deployment_and_is_scraped_through_its_service(real_operator):
    (pod,) = operator_pods(real_operator)
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] and pod["spec"]["containers"][0]["image"] == f"{real_operator.cluster.registry}/tuneforge/operator:test"
    # containerd may name the same image by an earlier run's registry address (the port changes).
    assert status["image"].endswith("/tuneforge/operator:test"), status
    assert status["containerID"].startswith("containerd://"), status
    # Ready came from the readiness probe: the kubelet asked /healthz of the container's own address.
    spec = pod["spec"]["containers"][0]
    assert spec["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["status"]["podIP"].startswith("10.88."), pod["status"]
    # Both probes answered: the kubelet's own count of probe results, read from the node.
    def answered() -> set[str]:
        lines = real_operator.kubectl("get", "--raw", f"/api/v1/nodes/{pod['spec']['nodeName']}/proxy/metrics/probes",
                                      check=True).stdout.splitlines()
        return {kind for kind in ("Liveness", "Readiness") for line in lines
                if line.startswith("prober_probe_total{") and f'probe_type="{kind}"' in line
                and f'pod="{pod["metadata"]["name"]}"' in line and 'result="successful"' in line
                and float(line.rsplit(" ", 1)[1]) > 0}
    assert eventually(lambda: answered() == {"Liveness", "Readiness"}, 90), answered()
    # Scraped as Prometheus would: the Service's endpoint, reached through the API server's proxy.
    metrics = real_operator.kubectl("get", "--raw", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/services/"
                                    f"http:{OPERATOR}-metrics:metrics/proxy/metrics", check=True).stdout
    assert "tuneforge_jobs" in metrics, metrics[:2000]


@pytest.mark.quickstart_node  # CI runs these (TUNEFORGE_REAL_NODE=quickstart)
def test_the_quickstart_runs_in_the_images_as_uid_1000_sharing_the_model_cache(real_operator, tmp_path):
    kube = real_operator
    ns = restricted_namespace(kube, "images")
    volumes = host_claims(kube, ns, "outputs", "model-cache")
    # The manifest the release's NOTES show (the quickstart, no URL of this repository), as applied.
    notes = kube.helm("get", "notes", "tf", "-n", OPERATOR_NAMESPACE).stdout
    kube.kubectl("apply", "-k", str(kustomized(tmp_path, ns, FEW_STEPS, text=notes_manifest(notes))), check=True)
    finished(kube, ns, "ftj/quickstart", "qj/quickstart-gguf", timeout=1500)

    # The result reached status through the termination-message file the kubelet created.
    first = kube.json("get", "ftj", "quickstart", "-n", ns)["status"]
    assert first["output"]["uri"] == f"pvc://outputs/{ns}/quickstart" and first["output"]["finalLoss"] > 0, first
    second = kube.json("get", "qj", "quickstart-gguf", "-n", ns)["status"]
    record = json.loads((volumes["outputs"] / ns / "quickstart-gguf" / "tuneforge-output.json").read_text())
    assert second["output"]["uri"] == f"pvc://outputs/{ns}/quickstart-gguf"
    gguf = volumes["outputs"] / ns / "quickstart-gguf" / record["artifacts"]["q4_k_m"]
    assert gguf.stat().st_size > 50_000_000
    # Written by the workers' processes as uid 1000 (the images' USER and the pods' runAsUser).
    assert gguf.stat().st_uid == 1000 and (volumes["outputs"] / ns / "quickstart").stat().st_uid == 1000
    for job in ("quickstart-ftj", "quickstart-gguf-qj"):
        pod = kube.json("get", "pods", "-n", ns, "-l", f"job-name={job}")["items"][0]
        (container,) = pod["status"]["containerStatuses"]
        assert container["imageID"] and container["containerID"].startswith("containerd://"), container

    # The first pod converted the built-in model into the shared cache claim; a third pod that reads
    # the same model finds it there and converts nothing (the folder is the very one the first made).
    builtin = next((volumes["model-cache"] / "models" / "builtin").glob("smollm2-135m-instruct-*"))
    made = builtin.stat()
    assert made.st_uid == 1000
    again = quantize(name="again").set("spec.gguf", {"types": ["q8_0"]}).set("spec.evaluation", {"enabled": False})
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(again), check=True)
    finished(kube, ns, "qj/again", timeout=600)
    kept = builtin.stat()
    assert (kept.st_ino, kept.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)
    # ... and the third pod read that very folder: through its /cache mount, which is the claim.
    pod = kube.json("get", "pods", "-n", ns, "-l", "job-name=again-qj")["items"][0]
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: claims[m["name"]] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["/cache"] == "model-cache", mounts
    used = json.loads((volumes["outputs"] / ns / "again" / "tuneforge-output.json").read_text())["inputs"]["model"]
    assert used["path"] == f"/cache/models/builtin/{builtin.name}", used


def test_the_operators_pod_deleted_mid_reconcile_is_replaced_and_every_resource_finishes(real_operator):
    kube = real_operator
    ns = restricted_namespace(kube, "replaced")
    host_claims(kube, ns, "outputs", "model-cache")
    docs = [finetune(f"ft-{i}") for i in range(3)]
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
                 check=True)
    (old,) = operator_pods(kube)
    # Deleted as a node drain or `kubectl delete pod` would, once the first Job exists: the operator
    # is then between creating the three Jobs and recording them.
    assert eventually(lambda: kube.json("get", "jobs", "-n", ns)["items"], 120), describe(kube, ns)
    kube.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, old["metadata"]["name"], "--wait=false", check=True)

    def replaced():
        pods = [p for p in operator_pods(kube) if p["metadata"]["uid"] != old["metadata"]["uid"]]
        return pods and pods[0]["status"].get("containerStatuses", [{}])[0].get("ready")
    assert eventually(replaced, 180), describe(kube, OPERATOR_NAMESPACE)
    names = [d["metadata"]["name"] for d in docs]
    finished(kube, ns, *(f"ftj/{n}" for n in names))
    uids = {r["metadata"]["uid"]: r["metadata"]["name"] for r in kube.json("get", "ftj", "-n", ns)["items"]}
    for job in kube.json("get", "jobs", "-n", ns)["items"]:
        (owner,) = job["metadata"]["ownerReferences"]
        assert uids.get(owner["uid"]) == owner["name"], job["metadata"]  # owned by a resource that exists


@pytest.fixture(scope="module")
def queued(real_operator):
    kueue.start(real_operator)
    return real_operator


def test_kueue_holds_the_second_queued_job_with_its_reason_until_the_first_finishes(queued):
    kube = queued
    ns = restricted_namespace(kube, "queued")
    host_claims(kube, ns, "outputs", "model-cache")
    kueue.queues(kube, ns, cpu="300m")  # each worker asks for 250m: one at a time
    names = ("one", "two")
    docs = [finetune(name, scheduling={"queueName": "team"}) for name in names]
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
                 check=True)

    def statuses():
        return {n: kube.json("get", "ftj", n, "-n", ns).get("status") or {} for n in names}

    def one_admitted_one_waiting():
        now = statuses()
        held = [n for n, st in now.items() if st.get("phase") == "Suspended" and "insufficient" in st.get("message", "")]
        admitted = [n for n, st in now.items() if st.get("phase") in ("Pending", "Running", "Succeeded")]
        return (admitted[0], held[0], now[held[0]]["message"]) if len(held) == len(admitted) == 1 else None
    seen = eventually(one_admitted_one_waiting, 180)
    assert seen, describe(kube, ns)
    first, second, message = seen
    # Kueue's own words, mirrored by the operator from the Workload.
    assert message.startswith("waiting in Kueue queue team: ") and "quota" in message, message
    finished(kube, ns, f"ftj/{first}", f"ftj/{second}")
    jobs = {j["metadata"]["labels"]["tuneforge.io/job"]: j for j in kube.json("get", "jobs", "-n", ns)["items"]}
    assert jobs[second]["status"]["startTime"] >= jobs[first]["status"]["completionTime"], jobs


def test_two_pods_meet_through_the_services_dns_name_and_train_one_model(real_operator):
    kube = real_operator
    ns = restricted_namespace(kube, "pair")
    volumes = host_claims(kube, ns, "outputs", "model-cache")
    doc = finetune("pair", resources={"nodes": 2},
                   training={"maxSteps": 8, "maxLength": 64, "batchSize": 1, "learningRate": 1e-3})
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc), check=True)
    finished(kube, ns, "ftj/pair")

    job = kube.json("get", "job", "pair-ftj", "-n", ns)
    assert (job["spec"]["completionMode"], job["status"]["succeeded"]) == ("Indexed", 2)
    pods = {p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]: p
            for p in kube.json("get", "pods", "-n", ns, "-l", "job-name=pair-ftj")["items"]}
    # Rank 1 reached rank 0 by the name the static rendezvous gives (<pod 0>.<headless Service>),
    # which only the cluster's DNS answers: containers share no hosts file here.
    container = pods["1"]["spec"]["containers"][0]
    command = " ".join(container["command"] + container.get("args", []))
    assert "--master_addr=$(TUNEFORGE_RENDEZVOUS_HOST)" in command, command
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TUNEFORGE_RENDEZVOUS_HOST"] == "pair-ftj-0.pair-ftj", env
    assert pods["0"]["status"]["podIP"] != pods["1"]["status"]["podIP"]
    logs = {rank: kube.kubectl("logs", "-n", ns, pod["metadata"]["name"], check=True).stdout for rank, pod in pods.items()}
    assert all(logs.values()) and "::tuneforge::result" in logs["0"] and "::tuneforge::result" not in logs["1"]

    status = kube.json("get", "ftj", "pair", "-n", ns)["status"]
    assert status["output"]["uri"] == f"pvc://outputs/{ns}/pair", status
    record = json.loads((volumes["outputs"] / ns / "pair" / "tuneforge-output.json").read_text())
    metrics = record["metrics"]
    assert metrics["worldSize"] == 2 and metrics["distributedType"] == "MULTI_CPU", metrics
    assert metrics["finalLoss"] < metrics["initialLoss"], metrics
