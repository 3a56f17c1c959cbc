"""fromJob chains: downstream Jobs appear only after their upstream succeeded, with its output."""

import json

from builders import finetune, merge, quantize

from tuneforge.controller import reconcile
from tuneforge.controller.jobs import ANNOTATION_WORKER_SPEC

RESULT = '::tuneforge::result {"uri":"pvc://outputs/default/%s","files":3}'


async def spec_json(cluster, job_name):
    annotations = (await cluster.job(job_name))["spec"]["template"]["metadata"]["annotations"]
    return json.loads(annotations[ANNOTATION_WORKER_SPEC])


async def test_finetune_merge_quantize_applied_at_once(cluster, operator, monkeypatch):
    monkeypatch.setattr(reconcile, "RETRY_INPUT_SECONDS", 0.3)
    ft = finetune("lora", name="ft")
    mj = merge("linear", name="mj").drop("spec.baseModel")  # models: built-in + fromJob FineTuneJob/ft
    qj = quantize("gguf", name="qj").set("spec.model", {"fromJob": {"kind": "MergeJob", "name": "mj"}})
    async with operator():
        for doc in (qj, mj, ft):  # upstream last: order of apply must not matter
            await cluster.apply(doc)
        await cluster.wait(cluster.jobs, what="the first Job")
        waiting = await cluster.wait_phase("MergeJob", "mj", "Pending")
        assert {c["type"]: c["reason"] for c in waiting["status"]["conditions"]}["Reconciling"] == "WaitingForInput"
        assert waiting["status"]["message"] == "waiting for FineTuneJob/ft to succeed"
        assert [j["metadata"]["name"] for j in await cluster.jobs()] == ["ft-ftj"]

        await cluster.start("ft-ftj")
        await cluster.finish("ft-ftj", message=RESULT % "ft")

        async def two_jobs():
            return len(await cluster.jobs()) == 2
        await cluster.wait(two_jobs, what="the MergeJob's Job")
        merged = await spec_json(cluster, "mj-mj")
        assert merged["spec"]["models"][1]["model"] == {"uri": "pvc://outputs/default/ft"}
        assert sorted(j["metadata"]["name"] for j in await cluster.jobs()) == ["ft-ftj", "mj-mj"]

        await cluster.start("mj-mj")
        await cluster.finish("mj-mj", message=RESULT % "mj")

        async def three_jobs():
            return len(await cluster.jobs()) == 3
        await cluster.wait(three_jobs, what="the QuantizeJob's Job")
        assert (await spec_json(cluster, "qj-qj"))["spec"]["model"] == {"uri": "pvc://outputs/default/mj"}


async def test_failed_upstream_fails_downstream_clearly(cluster, operator, monkeypatch):
    monkeypatch.setattr(reconcile, "RETRY_INPUT_SECONDS", 0.3)
    async with operator():
        await cluster.apply(finetune("lora", name="ft"))
        await cluster.apply(merge("linear", name="mj").drop("spec.baseModel"))
        await cluster.wait(cluster.jobs, what="the Job")
        await cluster.start("ft-ftj")
        await cluster.finish("ft-ftj", exit_code=2, message="error: dataset.format: bad", job_condition="Failed")
        failed = await cluster.wait_phase("MergeJob", "mj", "Failed")
        assert failed["status"]["message"].startswith("FineTuneJob/ft failed: the worker failed: dataset.format: bad")
        assert [j["metadata"]["name"] for j in await cluster.jobs()] == ["ft-ftj"]
