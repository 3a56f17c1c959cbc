"""Where a FineTuneJob's checkpoints outlive its pod: a preempted or evicted pod saves one at once,
and the Job's next pod resumes from the latest complete one."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field, field_validator

from .base import Model, Optional, Issue
from .sources import SecretRef, check_uri, secret_problems


class CheckpointSettings(Model):
    """Checkpoint location and the time a pod gets to save one when it is told to stop."""

    uri: Optional[str] = None
    """s3://bucket/prefix, pvc://claim/path or file:///path. Default: beside the output
    (`<output>-checkpoints` for an s3:// output; the output folder's checkpoints/ for pvc:// and local
    outputs, which outlive the pod already; the shared cache for hf:// outputs)."""
    secret_ref: Optional[SecretRef] = None
    """Credentials for an s3:// location (the same keys as an s3:// output)."""
    grace_period_seconds: int = Field(default=300, ge=30, le=86_400)
    """The pod's terminationGracePeriodSeconds: the time between SIGTERM (preemption, eviction,
    drain) and SIGKILL in which the worker saves a checkpoint and uploads it."""

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str | None) -> str | None:
        if uri is None:
            return None
        check_uri(uri)
        if not uri.startswith(("s3://", "pvc://", "file://")):
            raise ValueError(f"'{uri}': checkpoints go to s3://, pvc:// or file:// (a folder)")
        return uri

    def problems(self) -> Iterator[Issue]:
        if self.uri is None and self.secret_ref is not None:
            yield Issue("secretRef", "secretRef applies to an s3:// uri; without a uri checkpoints go beside the "
                                     "output, with the output's credentials")
        yield from secret_problems(self.uri, self.secret_ref)


def default_location(output_uri: str | None) -> str | None:
    """The remote location checkpoints are copied to when the spec names none: only an s3:// output
    needs one (pvc:// and local outputs are on storage that outlives the pod)."""
    if output_uri and output_uri.startswith("s3://"):
        return output_uri.rstrip("/") + "-checkpoints"
    return None
