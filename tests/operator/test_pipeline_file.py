"""The README's pipeline file on a cluster, and credentials that never leave their Secret."""

import json

import yaml

from tuneforge.api.sources import secret_env
from tuneforge.controller import reconcile
from tuneforge.controller.jobs import ANNOTATION_WORKER_SPEC

TOKEN = "hf_leaktest_5f4e3d2c1b0a99887766"


async def test_quickstart_file_runs_as_the_same_chain(cluster, operator, monkeypatch, root):
    monkeypatch.setattr(reconcile, "RETRY_INPUT_SECONDS", 0.3)
    docs = list(yaml.safe_load_all((root / "examples" / "quickstart.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["FineTuneJob", "QuantizeJob"]
    async with operator():
        for doc in docs:
            await cluster.apply(doc)
        await cluster.wait(cluster.jobs, what="the FineTuneJob's Job")
        waiting = await cluster.wait_phase("QuantizeJob", "quickstart-gguf", "Pending")
        assert waiting["status"]["message"] == "waiting for FineTuneJob/quickstart to succeed"
        assert [j["metadata"]["name"] for j in await cluster.jobs()] == ["quickstart-ftj"]

        await cluster.start("quickstart-ftj")
        await cluster.finish("quickstart-ftj",
                             message='::tuneforge::result {"uri":"pvc://outputs/default/quickstart","files":9}')

        async def two_jobs():
            return len(await cluster.jobs()) == 2
        await cluster.wait(two_jobs, what="the QuantizeJob's Job")
        job = await cluster.job("quickstart-gguf-qj")
        spec = json.loads(job["spec"]["template"]["metadata"]["annotations"][ANNOTATION_WORKER_SPEC])
        # The worker finds the merged model inside that folder through its output record.
        assert spec["spec"]["model"] == {"uri": "pvc://outputs/default/quickstart"}
        assert spec["spec"]["gguf"]["types"] == ["q4_k_m"]


async def test_secret_values_appear_in_no_object_the_operator_writes(cluster, operator):
    await cluster.request("POST", "/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf-token", "namespace": "default"},
        "stringData": {"token": TOKEN}})
    doc = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "FineTuneJob", "metadata": {"name": "private"},
           "spec": {"method": "lora", "model": {"uri": "hf://org/private-model", "secretRef": {"name": "hf-token"}},
                    "dataset": {"uri": "builtin://chat-mini"},
                    "output": {"uri": "pvc://outputs/private"}}}
    async with operator():
        await cluster.apply(doc)
        await cluster.wait(cluster.jobs, what="the Job")
        await cluster.start("private-ftj")
        await cluster.finish("private-ftj", exit_code=2, job_condition="Failed",
                             message="error: hf://org/private-model@main: no such model repository (or no access)")
        failed = await cluster.wait_phase("FineTuneJob", "private", "Failed")
    env = {e["name"]: e for e in (await cluster.job("private-ftj"))["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[secret_env("hf-token", "token")]["valueFrom"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert "no such model repository" in failed["status"]["message"]
    written = [await cluster.request("GET", path) for path in (
        "/apis/batch/v1/namespaces/default/jobs", "/api/v1/namespaces/default/events",
        "/api/v1/namespaces/default/pods", "/apis/tuneforge.io/v1alpha1/namespaces/default/finetunejobs")]
    text = json.dumps(written)
    assert "hf-token" in text, "the dump holds the objects it should"
    assert TOKEN not in text
