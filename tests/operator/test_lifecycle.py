"""Each kind from apply to a final status, through exactly one Job; failures that say why."""

import json

import pytest
from builders import finetune, merge, quantize

RESULT = '::tuneforge::result {"uri":"pvc://outputs/default/%s","files":9,"totalBytes":1234,"finalLoss":0.5}'


def conditions(obj):
    return {c["type"]: c["status"] for c in obj["status"]["conditions"]}


@pytest.mark.parametrize("doc, job_name, image", [
    (finetune("lora", name="smol"), "smol-ftj", "ghcr.io/tuneforge/finetune:0.1.0"),
    (merge("ties", name="smol").set("spec.models", [{"model": {"uri": "hf://a/b"}}]), "smol-mj", "ghcr.io/tuneforge/mergekit:0.1.0"),
    (quantize("gguf", name="smol"), "smol-qj", "ghcr.io/tuneforge/gguf:0.1.0"),
], ids=["FineTuneJob", "MergeJob", "QuantizeJob"])
async def test_lifecycle(cluster, operator, doc, job_name, image):
    kind = doc["kind"]
    async with operator():
        await cluster.apply(doc)
        jobs = await cluster.wait(cluster.jobs, what="the Job")
        assert [j["metadata"]["name"] for j in jobs] == [job_name]
        owner = await cluster.get(kind, "smol")
        assert jobs[0]["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
        assert jobs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == image
        pending = await cluster.wait_phase(kind, "smol", "Pending")
        assert pending["status"]["jobName"] == job_name

        await cluster.start(job_name)
        running = await cluster.wait_phase(kind, "smol", "Running")
        assert conditions(running)["Reconciling"] == "True"

        await cluster.finish(job_name, message=RESULT % "smol")
        done = await cluster.wait_phase(kind, "smol", "Succeeded")
        assert done["status"]["output"] == {"uri": "pvc://outputs/default/smol", "files": 9, "totalBytes": 1234, "finalLoss": 0.5}
        assert conditions(done) == {"Ready": "True", "Reconciling": "False", "Stalled": "False", "Succeeded": "True", "Failed": "False"}
        assert done["status"]["completionTime"]
        assert len(await cluster.jobs()) == 1
        # The operator's bookkeeping stays in status: the object's metadata is exactly what was applied
        # (GitOps tools see no drift), and the spec it handled is recorded.
        assert "annotations" not in done["metadata"] or not done["metadata"]["annotations"]
        assert json.loads(done["status"]["operator"]["handledSpec"])["spec"] == doc["spec"]


async def test_progress_comes_from_the_worker_protocol(cluster, operator):
    line = '::tuneforge::progress {"step":12,"totalSteps":30,"percent":40,"loss":1.31,"etaSeconds":180,"eta":"3m"}'
    cluster.server["get", "/api/v1/namespaces/default/pods/smol-ftj-abcde/log"] << f"some log\n{line}\nmore log\n".encode()
    async with operator():
        await cluster.apply(finetune("lora", name="smol"))
        await cluster.wait(cluster.jobs, what="the Job")
        await cluster.start("smol-ftj")

        async def has_progress():
            obj = await cluster.get("FineTuneJob", "smol")
            return (obj.get("status") or {}).get("progress")
        progress = await cluster.wait(has_progress, what="progress in status")
        assert progress == {"step": 12, "totalSteps": 30, "percent": 40, "loss": 1.31, "etaSeconds": 180, "eta": "3m"}


async def test_oom_killed_fails_with_advice(cluster, operator):
    async with operator():
        await cluster.apply(finetune("lora", name="smol"))
        await cluster.wait(cluster.jobs, what="the Job")
        await cluster.start("smol-ftj")
        await cluster.finish("smol-ftj", exit_code=137, reason="OOMKilled", job_condition="Failed", job_reason="BackoffLimitExceeded")
        failed = await cluster.wait_phase("FineTuneJob", "smol", "Failed")
        assert failed["status"]["message"].startswith("the worker ran out of memory (OOMKilled)")
        assert "qlora" in failed["status"]["message"]
        assert conditions(failed)["Failed"] == "True" and conditions(failed)["Ready"] == "False"


async def test_invalid_resource_is_stalled_and_others_still_served(cluster, operator):
    async with operator():
        await cluster.apply(finetune("qlora", name="bad").drop("spec.quantization"))
        await cluster.apply(finetune("lora", name="good"))
        bad = await cluster.wait_phase("FineTuneJob", "bad", "Failed")
        assert conditions(bad)["Stalled"] == "True"
        assert bad["status"]["message"] == "spec.quantization: method qlora needs 4-bit settings: add quantization: {bits: 4} (nf4 by default)"
        jobs = await cluster.wait(cluster.jobs, what="the good Job")
        assert [j["metadata"]["name"] for j in jobs] == ["good-ftj"]
