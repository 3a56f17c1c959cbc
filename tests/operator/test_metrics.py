"""The operator's Prometheus metrics move with what it does."""

from builders import finetune
from prometheus_client import REGISTRY, generate_latest

RESULT = '::tuneforge::result {"uri":"pvc://outputs/default/m","files":1}'


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_jobs_transitions_and_invalid_resources(cluster, operator):
    created = value("tuneforge_jobs_created_total", kind="FineTuneJob", backend="finetune")
    succeeded = value("tuneforge_phase_transitions_total", kind="FineTuneJob", phase="Succeeded")
    invalid = value("tuneforge_invalid_resources_total", kind="FineTuneJob")
    async with operator():
        await cluster.apply(finetune("lora", name="m"))
        await cluster.apply(finetune("sft", name="bad"))
        await cluster.wait(cluster.jobs, what="the Job")
        await cluster.start("m-ftj")
        await cluster.finish("m-ftj", message=RESULT)
        await cluster.wait_phase("FineTuneJob", "m", "Succeeded")
        await cluster.wait_phase("FineTuneJob", "bad", "Failed")
    assert value("tuneforge_jobs_created_total", kind="FineTuneJob", backend="finetune") == created + 1
    assert value("tuneforge_phase_transitions_total", kind="FineTuneJob", phase="Succeeded") == succeeded + 1
    assert value("tuneforge_invalid_resources_total", kind="FineTuneJob") == invalid + 1
    assert b"tuneforge_jobs_created_total" in generate_latest(REGISTRY)
