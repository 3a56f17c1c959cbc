"""The operator's Prometheus metrics move with what it does."""

from support.builders import finetune
from prometheus_client import REGISTRY, generate_latest

RESULT = '::tuneforge::result {"uri":"pvc://outputs/default/metrics-m","files":1}'
PROGRESS = '::tuneforge::progress {"step":12,"totalSteps":30,"percent":40}'


def value(metric, **labels):
    return REGISTRY.get_sample_value(metric, labels) or 0.0


async def test_metrics_count_jobs_transitions_and_invalid_resources(cluster, operator):
    created = value("tuneforge_jobs_created_total", kind="FineTuneJob", backend="finetune")
    succeeded = value("tuneforge_phase_transitions_total", kind="FineTuneJob", phase="Succeeded")
    invalid = value("tuneforge_invalid_resources_total", kind="FineTuneJob")
    jobs_succeeded = value("tuneforge_jobs", kind="FineTuneJob", method="lora", phase="Succeeded")
    durations = value("tuneforge_job_duration_seconds_count", kind="FineTuneJob", method="lora", phase="Succeeded")
    cluster.server["get", "/api/v1/namespaces/default/pods/metrics-m-ftj-abcde/log"] << f"{PROGRESS}\n".encode()
    async with operator():
        await cluster.apply(finetune("lora", name="metrics-m"))
        await cluster.apply(finetune("sft", name="metrics-bad"))
        await cluster.wait(cluster.jobs, what="the Job")
        await cluster.start("metrics-m-ftj")

        async def progress_gauge():
            return value("tuneforge_job_progress_ratio", namespace="default", kind="FineTuneJob", name="metrics-m")
        assert await cluster.wait(progress_gauge, what="the progress gauge") == 0.4
        assert value("tuneforge_jobs", kind="FineTuneJob", method="lora", phase="Running") >= 1

        await cluster.finish("metrics-m-ftj", message=RESULT)
        await cluster.wait_phase("FineTuneJob", "metrics-m", "Succeeded")
        await cluster.wait_phase("FineTuneJob", "metrics-bad", "Failed")
    assert value("tuneforge_jobs_created_total", kind="FineTuneJob", backend="finetune") == created + 1
    assert value("tuneforge_phase_transitions_total", kind="FineTuneJob", phase="Succeeded") == succeeded + 1
    assert value("tuneforge_invalid_resources_total", kind="FineTuneJob") == invalid + 1
    assert value("tuneforge_jobs", kind="FineTuneJob", method="lora", phase="Succeeded") == jobs_succeeded + 1
    assert value("tuneforge_jobs", kind="FineTuneJob", method="sft", phase="Failed") >= 1
    assert value("tuneforge_job_duration_seconds_count", kind="FineTuneJob", method="lora", phase="Succeeded") == durations + 1
    assert value("tuneforge_job_progress_ratio", namespace="default", kind="FineTuneJob", name="metrics-m") == 0, \
        "a finished job's progress gauge is removed"
    assert b"tuneforge_jobs_created_total" in generate_latest(REGISTRY)


async def test_a_deleted_resource_leaves_the_phase_gauge(cluster, operator):
    before = value("tuneforge_jobs", kind="FineTuneJob", method="lora", phase="Pending")
    async with operator():
        await cluster.apply(finetune("lora", name="metrics-gone"))
        await cluster.wait_phase("FineTuneJob", "metrics-gone", "Pending")
        assert value("tuneforge_jobs", kind="FineTuneJob", method="lora", phase="Pending") == before + 1
        await cluster.request("DELETE", "/apis/tuneforge.io/v1alpha1/namespaces/default/finetunejobs/metrics-gone")

        async def gone():
            return value("tuneforge_jobs", kind="FineTuneJob", method="lora", phase="Pending") == before
        await cluster.wait(gone, what="the gauge to drop the deleted resource")


def test_every_metric_is_documented(root):
    from prometheus_client.metrics import MetricWrapperBase

    from tuneforge.controller import metrics

    page = (root / "docs" / "metrics.md").read_text()
    found = [m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]
    assert len(found) == 8
    for metric in found:
        name = metric._name + ("_total" if metric._type == "counter" else "")
        labels = ", ".join(f"`{label}`" for label in metric._labelnames)
        assert f"| `{name}` | {metric._type} | {labels} |" in page, name
