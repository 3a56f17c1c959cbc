"""Restarts, suspension and queues, TTL clean-up, spec changes, and API errors."""

import json

from builders import finetune

from tuneforge.api.manifest import parse
from tuneforge.backends import backend_for
from tuneforge.controller import jobs as build
from tuneforge.controller.settings import Settings

RESULT = '::tuneforge::result {"uri":"pvc://outputs/default/x","files":3}'


async def test_restart_keeps_exactly_one_job(cluster, operator):
    async with operator():
        await cluster.apply(finetune("lora", name="x"))
        await cluster.wait(cluster.jobs, what="the Job")
        await cluster.wait_phase("FineTuneJob", "x", "Pending")
    async with operator():  # a new operator process resumes every resource
        await cluster.start("x-ftj")
        await cluster.wait_phase("FineTuneJob", "x", "Running")
        assert len(await cluster.jobs()) == 1


async def apply_with_existing_job(cluster, doc):
    """The resource, plus the Job a previous operator created before it died (no status yet)."""
    obj = await cluster.apply(doc)
    resource, _ = parse(obj)
    plan = backend_for(resource).worker_plan(resource)
    await cluster.request("POST", "/apis/batch/v1/namespaces/default/jobs",
                          build.job(resource, plan, Settings(), {"spec": obj["spec"]}, obj["metadata"]["uid"]))
    return obj


async def test_crash_after_job_creation_before_status(cluster, operator):
    await apply_with_existing_job(cluster, finetune("lora", name="x"))
    async with operator():
        pending = await cluster.wait_phase("FineTuneJob", "x", "Pending")
        assert pending["status"]["jobName"] == "x-ftj"
        assert len(await cluster.jobs()) == 1


async def test_injected_500_on_job_creation_is_retried(cluster, operator):
    cluster.server.inject("POST", "/apis/batch/v1/namespaces/default/jobs", 500)
    async with operator():
        await cluster.apply(finetune("lora", name="x"))
        await cluster.wait_phase("FineTuneJob", "x", "Pending", timeout=20)
        await cluster.wait(cluster.jobs, what="the Job after a retry")
        assert len(await cluster.jobs()) == 1


async def test_injected_409_on_job_creation_means_it_exists(cluster, operator):
    # A 409 answers a create whose object already exists: the operator keeps the existing one.
    await apply_with_existing_job(cluster, finetune("lora", name="x"))
    cluster.server.inject("POST", "/apis/batch/v1/namespaces/default/jobs", 409)
    async with operator():
        await cluster.wait_phase("FineTuneJob", "x", "Pending")
        assert len(await cluster.jobs()) == 1


async def test_suspended_and_queued_jobs(cluster, operator):
    async with operator():
        await cluster.apply(finetune("lora", name="x").set("spec.runPolicy", {"suspend": True}))
        await cluster.apply(finetune("lora", name="q").set("spec.scheduling", {"queueName": "team-a"}))
        await cluster.wait_phase("FineTuneJob", "x", "Suspended")
        queued = await cluster.job("q-ftj")
        assert queued["spec"]["suspend"] is True
        assert queued["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
        await cluster.wait_phase("FineTuneJob", "q", "Suspended")
        # Kueue admits the workload by unsuspending the Job; the pod then starts.
        await cluster.request("PATCH", "/apis/batch/v1/namespaces/default/jobs/q-ftj", {"spec": {"suspend": False}})
        await cluster.start("q-ftj")
        await cluster.wait_phase("FineTuneJob", "q", "Running")


async def test_ttl_cleanup_keeps_the_status(cluster, operator):
    async with operator():
        await cluster.apply(finetune("lora", name="x").set("spec.runPolicy", {"ttlSecondsAfterFinished": 60}))
        await cluster.wait(cluster.jobs, what="the Job")
        assert (await cluster.job("x-ftj"))["spec"]["ttlSecondsAfterFinished"] == 60
        await cluster.start("x-ftj")
        await cluster.finish("x-ftj", message=RESULT)
        await cluster.wait_phase("FineTuneJob", "x", "Succeeded")
        await cluster.request("DELETE", "/apis/batch/v1/namespaces/default/jobs/x-ftj")  # the TTL controller
        await cluster.request("DELETE", "/api/v1/namespaces/default/pods/x-ftj-abcde")
        done = await cluster.get("FineTuneJob", "x")
        assert done["status"]["phase"] == "Succeeded" and done["status"]["output"]["uri"] == "pvc://outputs/default/x"


async def test_spec_change_after_start_is_reported_not_applied(cluster, operator):
    async with operator():
        await cluster.apply(finetune("lora", name="x"))
        await cluster.wait_phase("FineTuneJob", "x", "Pending")
        before = json.dumps((await cluster.job("x-ftj"))["spec"], sort_keys=True)
        await cluster.request("PATCH", "/apis/tuneforge.io/v1alpha1/namespaces/default/finetunejobs/x",
                              {"metadata": {"generation": 2}, "spec": {"training": {"maxSteps": 5}}})

        async def reported():
            obj = await cluster.get("FineTuneJob", "x")
            return "spec changed after the job started" in (obj["status"].get("message") or "")
        await cluster.wait(reported, what="the spec change to be reported")
        assert json.dumps((await cluster.job("x-ftj"))["spec"], sort_keys=True) == before


async def test_children_are_owned_for_garbage_collection(cluster, operator):
    async with operator():
        obj = await cluster.apply(finetune("lora", name="x"))
        await cluster.wait_phase("FineTuneJob", "x", "Pending")
        ref = (await cluster.job("x-ftj"))["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["uid"], ref["controller"]) == ("FineTuneJob", obj["metadata"]["uid"], True)


async def test_deletion_is_not_blocked_and_creates_nothing_again(cluster, operator):
    async with operator():
        await cluster.apply(finetune("lora", name="x"))
        await cluster.wait_phase("FineTuneJob", "x", "Pending")
        await cluster.start("x-ftj")
        await cluster.wait_phase("FineTuneJob", "x", "Running")
        await cluster.request("DELETE", "/apis/tuneforge.io/v1alpha1/namespaces/default/finetunejobs/x")

        async def gone():
            listed = await cluster.request("GET", "/apis/tuneforge.io/v1alpha1/namespaces/default/finetunejobs")
            return not listed["items"]
        # A finalizer the operator put on (for its progress timer) is released: GitOps prunes promptly.
        await cluster.wait(gone, what="the FineTuneJob to be deleted")
        # Kubernetes' garbage collector deletes the owned children (kmock has none: done here).
        for path in ("/apis/batch/v1/namespaces/default/jobs/x-ftj", "/api/v1/namespaces/default/pods/x-ftj-abcde"):
            await cluster.request("DELETE", path)
        # The operator is still serving, and recreated nothing for the deleted resource.
        await cluster.apply(finetune("lora", name="y"))
        await cluster.wait_phase("FineTuneJob", "y", "Pending")
        assert [j["metadata"]["name"] for j in await cluster.jobs()] == ["y-ftj"]
