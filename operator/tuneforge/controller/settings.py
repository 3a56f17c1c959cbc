"""Operator configuration: images per backend, the model cache, defaults. Read from the environment
(the chart sets these), so the pure builders receive plain values and tests pass their own."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# Worker images; "autoawq" is the awq method's legacy engine, which needs transformers 4.x.
BACKENDS = ("finetune", "mergekit", "gguf", "awq", "autoawq", "exl2")


@dataclass(frozen=True)
class Settings:
    images: dict[str, str] = field(default_factory=lambda: {b: f"ghcr.io/tuneforge/{b}:0.1.0" for b in BACKENDS})
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

    @classmethod
    def from_env(cls) -> Settings:
        images = {b: os.environ.get(f"TUNEFORGE_IMAGE_{b.upper()}", f"ghcr.io/tuneforge/{b}:0.1.0") for b in BACKENDS}
        return cls(
            images=images,
            image_pull_policy=os.environ.get("TUNEFORGE_IMAGE_PULL_POLICY", "IfNotPresent"),
            cache_claim=os.environ.get("TUNEFORGE_CACHE_CLAIM") or None,
            default_output_claim=os.environ.get("TUNEFORGE_OUTPUT_CLAIM") or None,
            run_as_user=int(os.environ.get("TUNEFORGE_RUN_AS_USER", "1000")),
            metrics_port=int(os.environ.get("TUNEFORGE_METRICS_PORT", "9090")),
        )
