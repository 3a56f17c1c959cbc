"""spec.tracking.mlflow against a real MLflow server on 127.0.0.1: after a LoRA run and a DPO run the
server holds both runs with their parameters, the per-step loss history and the output URI, read
back through MLflow's own client; the run id is in each output record."""

import json

import pytest
from support import mlflow_server
from support.run import run_example

pytestmark = pytest.mark.slow
STEPS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = mlflow_server.start(tmp_path_factory.mktemp("mlflow"))
    yield srv
    srv.stop()


def tracked(server, method: str) -> tuple[str, ...]:
    tracking = {"mlflow": {"trackingUri": server.url, "experiment": "tuneforge-tests", "runName": f"smol-{method}",
                           "tags": {"team": "platform"}}}
    return (f"spec.tracking={json.dumps(tracking)}", f"spec.training.maxSteps={STEPS}", "spec.training.maxLength=96",
            "spec.output.mergeAdapter=false")


@pytest.mark.parametrize("example, method", [("finetune-lora-local.yaml", "lora"), ("finetune-dpo.yaml", "dpo")])
def test_the_server_holds_the_run(root, tmp_path, server, example, method):
    from mlflow.tracking import MlflowClient

    out = tmp_path / method
    rec = run_example(root, example, out, *tracked(server, method))
    run_id = rec["metrics"]["tracking"]["runId"]
    client = MlflowClient(tracking_uri=server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == f"smol-{method}"
    assert client.get_experiment(run.info.experiment_id).name == "tuneforge-tests"
    params, tags = run.data.params, run.data.tags
    assert params["tuneforge.method"] == method and params["tuneforge.model"] == "builtin://smollm2-135m-instruct"
    assert float(params["learning_rate"]) == rec["parameters"]["training"]["learningRate"]  # the trainer's own
    assert params["tuneforge.output"] == tags["tuneforge.output"] == f"file://{out.resolve()}"
    assert tags["team"] == "platform" and tags["tuneforge.kind"] == "FineTuneJob"
    history = client.get_metric_history(run_id, "loss")
    recorded = [h for h in json.loads((out / "loss-history.json").read_text()) if "loss" in h]
    assert [m.step for m in history] == [h["step"] for h in recorded]
    assert [m.value for m in history] == pytest.approx([h["loss"] for h in recorded])
    assert client.get_metric_history(run_id, "learning_rate")
    if method == "dpo":
        margins = client.get_metric_history(run_id, "rewards/margins")
        assert [m.value for m in margins] == pytest.approx(rec["metrics"]["rewardMargins"])
    assert run.data.metrics["tuneforge.steps"] == STEPS
