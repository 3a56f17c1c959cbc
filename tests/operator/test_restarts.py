"""The operator stopped at several points of a reconcile and started again: still exactly one Job
per resource, and the status the cluster's state implies (recomputed from the child Job)."""

import json

from builders import finetune, merge

from tuneforge.controller import reconcile
from tuneforge.controller.jobs import ANNOTATION_WORKER_SPEC as WORKER_SPEC

RESULT = '::tuneforge::result {"uri":"pvc://outputs/default/%s","files":3}'


async def names(cluster, path):
    return sorted(o["metadata"]["name"] for o in (await cluster.request("GET", path))["items"])


async def test_job_finished_while_the_operator_was_down(cluster, operator):
    async with operator():
        await cluster.apply(finetune("lora", name="x"))
        await cluster.wait_phase("FineTuneJob", "x", "Pending")
        await cluster.start("x-ftj")
        await cluster.wait_phase("FineTuneJob", "x", "Running")
    await cluster.finish("x-ftj", message=RESULT % "x")  # nobody is watching
    async with operator():
        done = await cluster.wait_phase("FineTuneJob", "x", "Succeeded")
    assert done["status"]["output"]["uri"] == "pvc://outputs/default/x"
    assert {c["type"]: c["status"] for c in done["status"]["conditions"]}["Ready"] == "True"
    assert [j["metadata"]["name"] for j in await cluster.jobs()] == ["x-ftj"]


async def test_upstream_succeeded_while_the_operator_was_down(cluster, operator, monkeypatch):
    monkeypatch.setattr(reconcile, "RETRY_INPUT_SECONDS", 0.3)
    async with operator():
        await cluster.apply(finetune("lora", name="ft"))
        await cluster.apply(merge("linear", name="mj").drop("spec.baseModel"))
        await cluster.wait_phase("MergeJob", "mj", "Pending")
        await cluster.start("ft-ftj")
    await cluster.finish("ft-ftj", message=RESULT % "ft")
    async with operator():
        await cluster.wait_phase("FineTuneJob", "ft", "Succeeded")

        async def merge_job():
            return "mj-mj" in [j["metadata"]["name"] for j in await cluster.jobs()]
        await cluster.wait(merge_job, what="the MergeJob's Job")
    async with operator():  # and once more: nothing is created twice
        await cluster.wait_phase("MergeJob", "mj", "Pending")
    assert sorted(j["metadata"]["name"] for j in await cluster.jobs()) == ["ft-ftj", "mj-mj"]
    annotations = (await cluster.job("mj-mj"))["spec"]["template"]["metadata"]["annotations"]
    assert json.loads(annotations[WORKER_SPEC])["spec"]["models"][1]["model"] == {"uri": "pvc://outputs/default/ft"}


async def test_many_restarts_while_resources_arrive(cluster, operator):
    # Stop and start the operator repeatedly while resources are being applied: each ends with one Job.
    for i in range(4):
        async with operator():
            for j in range(3):
                await cluster.apply(finetune("lora", name=f"r{i}-{j}"))
    async with operator():
        for i in range(4):
            for j in range(3):
                await cluster.wait_phase("FineTuneJob", f"r{i}-{j}", "Pending")
    jobs = [j["metadata"]["name"] for j in await cluster.jobs()]
    assert sorted(jobs) == sorted(f"r{i}-{j}-ftj" for i in range(4) for j in range(3))
