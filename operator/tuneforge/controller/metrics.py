"""Prometheus metrics of the operator (kopf has none); served on the metrics port from startup."""

from __future__ import annotations

from prometheus_client import Counter, start_http_server

TRANSITIONS = Counter("tuneforge_phase_transitions_total", "Resources entering a phase.", ["kind", "phase"])
JOBS_CREATED = Counter("tuneforge_jobs_created_total", "Worker Jobs created.", ["kind", "backend"])
INVALID = Counter("tuneforge_invalid_resources_total", "Resources rejected as invalid.", ["kind"])
API_RETRIES = Counter("tuneforge_api_retries_total", "Reconciles retried after an API server error.", ["kind"])
INPUT_WAITS = Counter("tuneforge_input_waits_total", "Reconciles that found an upstream job unfinished.", ["kind"])

_serving: list[int] = []


def serve(port: int) -> None:
    """Start the /metrics endpoint once per process (port 0: not at all)."""
    if port and not _serving:
        start_http_server(port)
        _serving.append(port)
