"""Operator configuration: images per backend, the model cache, defaults. Read from the environment
(the chart sets these), so the pure builders receive plain values and tests pass their own."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

# The worker images the registered backends run in (the chart names one repository for each).
from ..backends import images as worker_images


@dataclass(frozen=True)
class Settings:
    images: dict[str, str] = field(default_factory=lambda: {b: f"ghcr.io/tuneforge/{b}:0.1.0" for b in worker_images()})
    """Worker image per backend name."""
    image_pull_policy: str = "IfNotPresent"
    """Pull policy of worker containers."""
    cache_claim: str | None = None
    """PersistentVolumeClaim shared by all jobs as the model cache (mounted at /cache); None: an emptyDir."""
    default_output_claim: str | None = None
    """Claim for jobs without output.uri: their output goes to pvc://<claim>/<namespace>/<name>."""
    run_as_user: int = 1000
    """UID of worker containers (the images' non-root user)."""
    metrics_port: int = 9090
    """Port of the Prometheus /metrics endpoint; 0 turns it off."""
    backend_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per backend, what its pods get when the spec says nothing: nodeSelector, tolerations, affinity,
    resources ({requests, limits}). The chart puts GPU backends on GPU nodes and the rest on CPU nodes."""

    @classmethod
    def from_env(cls) -> Settings:
        images = {b: os.environ.get(f"TUNEFORGE_IMAGE_{b.upper()}", f"ghcr.io/tuneforge/{b}:0.1.0") for b in worker_images()}
        return cls(
            images=images,
            image_pull_policy=os.environ.get("TUNEFORGE_IMAGE_PULL_POLICY", "IfNotPresent"),
            cache_claim=os.environ.get("TUNEFORGE_CACHE_CLAIM") or None,
            default_output_claim=os.environ.get("TUNEFORGE_OUTPUT_CLAIM") or None,
            run_as_user=int(os.environ.get("TUNEFORGE_RUN_AS_USER", "1000")),
            metrics_port=int(os.environ.get("TUNEFORGE_METRICS_PORT", "9090")),
            backend_defaults=_backend_defaults(os.environ.get("TUNEFORGE_BACKEND_DEFAULTS", "")),
        )


def _backend_defaults(text: str) -> dict[str, dict[str, Any]]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TUNEFORGE_BACKEND_DEFAULTS is not JSON: {exc}") from exc
    known = worker_images()
    unknown = sorted(set(value) - set(known)) if isinstance(value, dict) else None
    if unknown is None or unknown or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(f"TUNEFORGE_BACKEND_DEFAULTS must map backends ({', '.join(known)}) to objects"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    return value
