"""MLflow tracking of a fine-tuning run (spec.tracking.mlflow), through MLflow's own client.

One MLflow run per job: its id is kept beside the checkpoints, so a pod that resumes after a
preemption continues the same run. transformers' MLflowCallback logs the trainer's parameters and
every logged metric per step (loss, learning rate, rewards, margins, evaluation) into the run
started here; this module adds tuneforge's own parameters and tags, the output URI and the end state.
Only rank 0 talks to the server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...api.finetune import PREFERENCE_METHODS
from ...api.sources import secret_env
from ...api.tracking import MLFLOW_SECRET_KEYS
from ...errors import Preempted

RUN_FILE = "mlflow-run.json"


def _credentials(ref) -> None:
    """The Secret's keys as MLflow's own variables (the pod holds them under tuneforge's names)."""
    if ref is None:
        return
    for key, _optional in MLFLOW_SECRET_KEYS:
        value = os.environ.get(secret_env(ref.name, key))
        if value:
            os.environ[key] = value


def _params(job) -> dict[str, Any]:
    spec, t = job.spec, job.spec.training
    params = {"tuneforge.kind": job.kind, "tuneforge.method": spec.method, "tuneforge.model": spec.model.describe(),
              "tuneforge.dataset": ", ".join(d.uri for _, d in spec.data()), "tuneforge.adapter": "lora" if spec.trains_adapter() else "none"}
    if spec.trains_adapter():
        lora = spec.effective_lora()
        params.update({"tuneforge.lora.r": lora.r, "tuneforge.lora.alpha": lora.alpha})
    block = getattr(spec, spec.method, None) if spec.method in PREFERENCE_METHODS else None
    if block is not None:
        params.update({f"tuneforge.{spec.method}.{k}": v for k, v in block.wire().items()})
    params.update({f"tuneforge.training.{k}": v for k, v in t.wire().items()})
    return {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in params.items()}


class Tracker:
    """The job's MLflow run while it trains; None-safe to use when tracking is off."""

    def __init__(self, job, checkpoints: Path):
        self.settings = job.spec.tracking.mlflow if job.spec.tracking else None
        self.job, self.checkpoints, self.run = job, checkpoints, None

    def start(self) -> None:
        if self.settings is None:
            return
        import mlflow

        m = self.settings
        _credentials(m.secret_ref)
        mlflow.set_tracking_uri(m.tracking_uri)
        saved = self.checkpoints / RUN_FILE
        if saved.is_file():  # a restarted pod: the same run goes on
            self.run = mlflow.start_run(run_id=json.loads(saved.read_text())["runId"])
            mlflow.set_tag("tuneforge.resumed", "true")
            return
        mlflow.set_experiment(m.experiment)
        tags = {"tuneforge.kind": self.job.kind, "tuneforge.name": self.job.metadata.name,
                "tuneforge.namespace": self.job.metadata.namespace or "", **m.tags}
        self.run = mlflow.start_run(run_name=m.run_name or self.job.metadata.name, tags=tags)
        mlflow.log_params(_params(self.job))
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps({"runId": self.run.info.run_id}))

    def report_to(self) -> list[str]:
        """The trainer's report_to: transformers' MLflow callback logs into the active run."""
        return ["mlflow"] if self.run is not None else []

    def finish(self, output_uri: str, metrics: dict[str, Any]) -> dict[str, Any] | None:
        """Log the output and summary, end the run; the run's coordinates for the record."""
        if self.run is None:
            return None
        import mlflow

        mlflow.set_tag("tuneforge.output", output_uri)
        mlflow.log_param("tuneforge.output", output_uri)
        summary = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        mlflow.log_metrics({f"tuneforge.{k}": v for k, v in summary.items()})
        mlflow.end_run("FINISHED")
        info = self.run.info
        return {"trackingUri": self.settings.tracking_uri, "experimentId": info.experiment_id, "runId": info.run_id,
                "runUrl": f"{self.settings.tracking_uri.rstrip('/')}/#/experiments/{info.experiment_id}/runs/{info.run_id}"}

    @contextmanager
    def active(self) -> Iterator[None]:
        """A failure inside ends the run as FAILED; a preemption leaves it running for the next pod."""
        try:
            yield
        except Preempted:
            raise
        except BaseException:
            if self.run is not None:
                import mlflow

                mlflow.end_run("FAILED")
            raise
