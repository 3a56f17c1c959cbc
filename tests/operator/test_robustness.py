"""What a real API server cannot easily be made to do: answer 500, 409 or drop the operator's watch.
Everything else about the operator is tested against the real control plane (tests/e2e). Each test
shows its injected fault fired."""


from support.builders import finetune

from tuneforge.api.manifest import parse
from tuneforge.backends import backend_for
from tuneforge.controller import jobs as build
from tuneforge.controller.settings import Settings



async def apply_with_existing_job(cluster, doc):
    """The resource, plus the Job a previous operator created before it died (no status yet)."""
    obj = await cluster.apply(doc)
    resource, _ = parse(obj)
    plan = backend_for(resource).worker_plan(resource)
    await cluster.request("POST", "/apis/batch/v1/namespaces/default/jobs",
                          build.job(resource, plan, Settings(), {"spec": obj["spec"]}, obj["metadata"]["uid"]))
    return obj


async def test_injected_500_on_job_creation_is_retried(cluster, operator):
    cluster.server.inject("POST", "/apis/batch/v1/namespaces/default/jobs", 500)
    async with operator():
        await cluster.apply(finetune("lora", name="x"))
        await cluster.wait_phase("FineTuneJob", "x", "Pending", timeout=20)
        await cluster.wait(cluster.jobs, what="the Job after a retry")
        assert len(await cluster.jobs()) == 1
    assert cluster.server.fired("POST", "/apis/batch/v1/namespaces/default/jobs") == 1


async def test_injected_409_on_job_creation_means_it_exists(cluster, operator):
    # A 409 answers a create whose object already exists: the operator keeps the existing one.
    await apply_with_existing_job(cluster, finetune("lora", name="x"))
    cluster.server.inject("POST", "/apis/batch/v1/namespaces/default/jobs", 409)
    async with operator():
        pending = await cluster.wait_phase("FineTuneJob", "x", "Pending")
        assert pending["status"]["jobName"] == "x-ftj"
        assert len(await cluster.jobs()) == 1
    assert cluster.server.fired("POST", "/apis/batch/v1/namespaces/default/jobs") == 1


async def test_a_failing_watch_is_listed_and_watched_again(cluster, operator):
    # As while the API server restarts: the operator's list and watch of FineTuneJobs fail, then work.
    path = "/apis/tuneforge.io/v1alpha1/finetunejobs"
    cluster.server.inject("GET", path, 500, times=3)
    await cluster.apply(finetune("lora", name="early"))
    async with operator():
        await cluster.wait_phase("FineTuneJob", "early", "Pending", timeout=30)
        await cluster.apply(finetune("lora", name="later"))
        await cluster.wait_phase("FineTuneJob", "later", "Pending", timeout=30)
    assert cluster.server.fired("GET", path) == 3
    assert sorted(j["metadata"]["name"] for j in await cluster.jobs()) == ["early-ftj", "later-ftj"]
