"""The status block, identical on all three kinds. Only the operator (and local runs) write it."""

from __future__ import annotations

from typing import Literal

from .base import AnyValue, Model, Optional

Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Suspended"]


class Condition(Model):
    """A kstatus-style condition."""

    type: str
    """Ready, Reconciling, Stalled, Succeeded or Failed."""
    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds."""
    reason: Optional[str] = None
    """One CamelCase word, for machines."""
    message: Optional[str] = None
    """A sentence for people."""
    last_transition_time: Optional[str] = None
    """When the status last changed (RFC 3339)."""
    observed_generation: Optional[int] = None
    """The metadata.generation this condition was computed for."""


class Progress(Model):
    """Training or conversion progress, as reported by the worker."""

    step: Optional[int] = None
    """Steps done."""
    total_steps: Optional[int] = None
    """Steps planned."""
    percent: Optional[int] = None
    """step / totalSteps in percent."""
    epoch: Optional[float] = None
    """Fractional epoch."""
    loss: Optional[float] = None
    """Latest training loss."""
    learning_rate: Optional[float] = None
    """Current learning rate."""
    tokens_per_second: Optional[float] = None
    """Training throughput."""
    eta_seconds: Optional[int] = None
    """Estimated seconds left."""
    eta: Optional[str] = None
    """Estimated time left, for people (e.g. 3m)."""
    stage: Optional[str] = None
    """What the worker is doing now, where steps are not training steps (e.g. quantize q4_k_m)."""
    resumed_from: Optional[str] = None
    """The checkpoint this attempt resumed from, after a preemption or a failure (fine-tuning)."""
    restarts: Optional[int] = None
    """How many times the job started again from a checkpoint (fine-tuning)."""


class OutputFile(Model):
    """One file of the output."""

    path: str
    """Path relative to the output location."""
    size: int
    """Size in bytes."""


class GateCheck(Model):
    """One threshold of spec.gate and what was measured."""

    threshold: str
    """The spec.gate field (e.g. maxKlDivergence)."""
    limit: float
    """Its value."""
    measured: str
    """What it was compared with (e.g. klDivergence)."""
    value: Optional[float] = None
    """The measured value (absent: it could not be measured, which fails the check)."""
    passed: bool
    """Whether the value meets the threshold."""
    subject: Optional[str] = None
    """Which output it concerns (a GGUF type), where a job writes several."""


class GateResult(Model):
    """The verdict of spec.gate."""

    passed: bool
    """Whether every check passed; a failed gate keeps the output but no fromJob consumer uses it."""
    checks: list[GateCheck]
    """Every check, passed or not."""
    message: Optional[str] = None
    """The missed checks in words."""


class OutputSummary(Model):
    """A summary of the output record (`tuneforge-output.json`)."""

    uri: Optional[str] = None
    """Where the output was written; downstream jobs read from here."""
    files: Optional[int] = None
    """Number of files."""
    total_bytes: Optional[int] = None
    """Total size in bytes."""
    final_loss: Optional[float] = None
    """Last training loss (fine-tuning)."""
    mlflow_run_id: Optional[str] = None
    """The MLflow run that tracked the job (spec.tracking.mlflow)."""
    record: Optional[str] = None
    """Location of the full record."""
    gate: Optional[GateResult] = None
    """The verdict of spec.gate, when the job has one."""


class Status(Model):
    """Observed state of the job."""

    phase: Optional[Phase] = None
    """Pending, Running, Succeeded, Failed or Suspended."""
    conditions: Optional[list[Condition]] = None
    """Ready, Reconciling, Stalled, Succeeded, Failed."""
    observed_generation: Optional[int] = None
    """The metadata.generation the operator last acted on."""
    progress: Optional[Progress] = None
    """Latest progress report."""
    output: Optional[OutputSummary] = None
    """What the job produced."""
    job_name: Optional[str] = None
    """Name of the child batch/v1 Job."""
    start_time: Optional[str] = None
    """When the worker started (RFC 3339)."""
    completion_time: Optional[str] = None
    """When the job finished (RFC 3339)."""
    message: Optional[str] = None
    """Why the job is in its phase, for people."""
    operator: Optional[AnyValue] = None
    """The operator's own bookkeeping (the spec it last acted on, retries in progress); not for people."""
