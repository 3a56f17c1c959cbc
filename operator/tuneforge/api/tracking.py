"""Experiment tracking: where a FineTuneJob reports its parameters, metrics and output."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import Field, field_validator

from .base import Dict, Model, Optional, Issue
from .sources import MLFLOW_SECRET_KEYS, SecretRef

__all__ = ["MLFLOW_SECRET_KEYS", "MlflowTracking", "Tracking"]
TAG_KEY = re.compile(r"^[A-Za-z0-9_.\-/ ]{1,250}$")


class MlflowTracking(Model):
    """An MLflow tracking server: one run per job, resumed by a restarted pod."""

    tracking_uri: str = Field(pattern=r"^https?://[^/\s]+", max_length=2048)
    """The server, e.g. http://mlflow.mlflow.svc:5000 (MLflow's MLFLOW_TRACKING_URI)."""
    experiment: str = Field(default="tuneforge", min_length=1, max_length=500)
    """Experiment name; created when it does not exist."""
    run_name: Optional[str] = Field(default=None, min_length=1, max_length=250)
    """Run name (default: the job's name)."""
    tags: Dict[str, str] = Field(default_factory=dict)
    """Tags set on the run, beside tuneforge's own (tuneforge.kind, tuneforge.method, ...)."""
    secret_ref: Optional[SecretRef] = None
    """Secret with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN
    (each optional)."""

    @field_validator("tracking_uri", mode="before")
    @classmethod
    def _http_url(cls, value):
        if isinstance(value, str) and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"'{value}' is not an http:// or https:// URL of a tracking server "
                             f"(e.g. http://mlflow.mlflow.svc:5000)")
        return value

    @property
    def uri(self) -> str:
        """The URI the operator's secret wiring keys on (every secretRef sits beside a uri)."""
        return self.tracking_uri

    def problems(self) -> Iterator[Issue]:
        for key in self.tags:
            if not TAG_KEY.match(key) or key.startswith("mlflow."):
                yield Issue("tags", f"tag key '{key}': up to 250 letters, digits, '_', '-', '.', '/' or spaces, "
                                    f"not starting with 'mlflow.' (MLflow's own)")
        if self.secret_ref is not None and self.secret_ref.key:
            yield Issue("secretRef.key", "the tracking Secret is read by MLflow's key names (MLFLOW_TRACKING_USERNAME, "
                                         "MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN); key does not apply")


class Tracking(Model):
    """Experiment tracking for the job."""

    mlflow: MlflowTracking
    """Log to an MLflow tracking server."""
