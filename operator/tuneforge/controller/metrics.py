"""Prometheus metrics of the operator (kopf has none); served on the metrics port from startup.

Names and labels are documented in docs/metrics.md (a test keeps the two in step).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

TRANSITIONS = Counter("tuneforge_phase_transitions_total", "Resources entering a phase.", ["kind", "phase"])
JOBS_CREATED = Counter("tuneforge_jobs_created_total", "Worker Jobs created.", ["kind", "backend"])
INVALID = Counter("tuneforge_invalid_resources_total", "Resources rejected as invalid.", ["kind"])
API_RETRIES = Counter("tuneforge_api_retries_total", "Reconciles retried after an API server error.", ["kind"])
INPUT_WAITS = Counter("tuneforge_input_waits_total", "Reconciles that found an upstream job unfinished.", ["kind"])
JOBS = Gauge("tuneforge_jobs", "Resources this operator has seen, by kind, method and current phase.",
             ["kind", "method", "phase"])
# Fine-tunes run for hours, merges and GGUF conversions for minutes: buckets from 1 minute to 3 days.
DURATION = Histogram("tuneforge_job_duration_seconds", "Run time of finished jobs, from the Job's start to its completion.",
                     ["kind", "method", "phase"], buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200))
PROGRESS = Gauge("tuneforge_job_progress_ratio", "Fraction of its steps a running job has done (0 to 1).",
                 ["namespace", "kind", "name"])

_serving: list[int] = []
_phases: dict[tuple[str, str, str], tuple[str, str]] = {}
_observed: set[tuple[str, str, str, str]] = set()
_guard = threading.Lock()


def serve(port: int) -> None:
    """Start the /metrics endpoint once per process (port 0: not at all)."""
    if port and not _serving:
        start_http_server(port)
        _serving.append(port)


def track(body: dict[str, Any], phase: str) -> None:
    """Move a resource to `phase` in tuneforge_jobs (once per resource, whatever the restarts)."""
    meta = body.get("metadata") or {}
    key = (meta.get("namespace", ""), body.get("kind", "?"), meta.get("name", ""))
    method = str((body.get("spec") or {}).get("method") or "?")
    with _guard:
        old = _phases.get(key)
        if old == (method, phase):
            return
        if old is not None:
            JOBS.labels(key[1], old[0], old[1]).dec()
        JOBS.labels(key[1], method, phase).inc()
        _phases[key] = (method, phase)
    if phase in ("Succeeded", "Failed") and key in _progress_keys():
        PROGRESS.remove(*key)


def finished(body: dict[str, Any], status: dict[str, Any]) -> None:
    """Observe a finished job's run time once: at its completionTime, or now when its Job has none."""
    meta = body.get("metadata") or {}
    key = (meta.get("namespace", ""), body.get("kind", "?"), meta.get("name", ""), meta.get("uid", ""))
    start = status.get("startTime")
    with _guard:
        if start is None or key in _observed or not (status.get("completionTime") or status["phase"] == "Failed"):
            return
        _observed.add(key)
    end = _time(status["completionTime"]) if status.get("completionTime") else dt.datetime.now(dt.UTC)
    method = str((body.get("spec") or {}).get("method") or "?")
    DURATION.labels(key[1], method, status["phase"]).observe(max(0.0, (end - _time(start)).total_seconds()))


def progress(body: dict[str, Any], value: dict[str, Any]) -> None:
    if value.get("percent") is not None:
        meta = body["metadata"]
        PROGRESS.labels(meta.get("namespace", ""), body.get("kind", "?"), meta.get("name", "")).set(value["percent"] / 100)


def forget(namespace: str, kind: str, name: str) -> None:
    """A deleted resource leaves tuneforge_jobs and its progress gauge."""
    key = (namespace, kind, name)
    with _guard:
        old = _phases.pop(key, None)
        if old is not None:
            JOBS.labels(kind, old[0], old[1]).dec()
    if key in _progress_keys():
        PROGRESS.remove(*key)


def _progress_keys() -> set[tuple[str, ...]]:
    return {tuple(s.labels[k] for k in ("namespace", "kind", "name")) for m in PROGRESS.collect() for s in m.samples}


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
