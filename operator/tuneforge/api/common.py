"""Spec parts every kind shares: output, resources, scheduling, run policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import Field, field_validator

from .base import AnyValue, IntOrString, Model, Optional, Issue
from .sources import SecretRef, check_uri, insecure_problems, secret_problems

QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")


class Output(Model):
    """Where the result is written. Every output folder also gets `tuneforge-output.json`."""

    uri: Optional[str] = None
    """pvc://claim/path, s3://bucket/prefix, hf://org/name (push), oci://registry/repository:tag (an
    OCI image with the files under /models, for KServe modelcars) or file:///path (local runs).
    Unset: the operator's default output volume on a cluster, ./out/<name> locally."""
    secret_ref: Optional[SecretRef] = None
    """Credentials for s3://, hf:// or oci:// outputs (oci://: a docker-config Secret)."""
    insecure: bool = False
    """oci:// only: push over plain HTTP (loopback registries get it without asking)."""
    overwrite: bool = False
    """Replace an existing finished output at the same location. Off: a finished output is never
    overwritten by accident."""
    sample: Literal["auto", "on", "off"] = "auto"
    """Generate one answer from the finished model to show it loads and works (in the record and the
    `tuneforge run` summary). auto: only for models up to 2 GiB on disk, since it loads the whole model."""

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str | None) -> str | None:
        if uri is None:
            return uri
        check_uri(uri)
        if uri.startswith("builtin://"):
            raise ValueError("builtin:// is read-only; write to pvc://, s3://, hf:// or file://")
        return uri

    def problems(self) -> Iterator[Issue]:
        yield from secret_problems(self.uri, self.secret_ref)
        yield from insecure_problems(self.uri, self.insecure)
        if (self.uri or "").startswith("oci://") and "@" in self.uri:
            yield Issue("uri", "an output is pushed to a tag (oci://registry/repository:tag); @digest names what exists")


class LocalObjectReference(Model):
    """A reference to an object by name in the same namespace."""

    name: str = Field(min_length=1)
    """Name of the object."""


class Resources(Model):
    """What each worker pod asks for."""

    gpus: int = Field(default=0, ge=0, le=16)
    """GPUs per node (pod). 0 runs on CPU."""
    nodes: int = Field(default=1, ge=1, le=64)
    """Number of nodes (pods). More than one starts a multi-node torchrun launch (fine-tuning only)."""
    gpu_resource_name: str = "nvidia.com/gpu"
    """Extended resource name of the GPU device plugin."""
    cpu: Optional[IntOrString] = None
    """CPU request and limit per pod, as a Kubernetes quantity (e.g. 8 or 500m)."""
    memory: Optional[IntOrString] = None
    """Memory request and limit per pod, as a Kubernetes quantity (e.g. 32Gi)."""
    ephemeral_storage: Optional[IntOrString] = None
    """Scratch disk per pod for downloads and conversions (e.g. 100Gi)."""
    shared_memory: Optional[IntOrString] = None
    """Size of /dev/shm (PyTorch data loaders and NCCL need more than the container default)."""
    gpu_memory: Optional[IntOrString] = None
    """Memory per GPU (e.g. 80Gi), for the memory-fit check of `tuneforge validate`; without it the
    check uses the nvidia.com/gpu.product node selector when it names a known GPU."""

    def problems(self) -> Iterator[Issue]:
        for name in ("cpu", "memory", "ephemeral_storage", "shared_memory", "gpu_memory"):
            value = getattr(self, name)
            if value is not None and not _is_quantity(str(value)):
                path = {"ephemeral_storage": "ephemeralStorage", "shared_memory": "sharedMemory",
                        "gpu_memory": "gpuMemory"}.get(name, name)
                yield Issue(path, f"'{value}' is not a Kubernetes quantity (examples: 4, 500m, 16Gi)")


def _is_quantity(value: str) -> bool:
    return QUANTITY.fullmatch(value) is not None


class Scheduling(Model):
    """Where and how the worker pods are scheduled."""

    node_selector: Optional[dict[str, str]] = None
    """Node labels the pods require."""
    tolerations: Optional[list[AnyValue]] = None
    """Pod tolerations, as in a Pod spec."""
    affinity: Optional[AnyValue] = None
    """Pod affinity, as in a Pod spec."""
    priority_class_name: Optional[str] = None
    """PriorityClass of the pods."""
    queue_name: Optional[str] = None
    """Kueue LocalQueue: the Job is created suspended and admitted by Kueue."""
    service_account_name: Optional[str] = None
    """ServiceAccount the pods run as (e.g. one bound to cloud storage through workload identity)."""
    image_pull_secrets: Optional[list[LocalObjectReference]] = None
    """Secrets for pulling the backend image from a private registry."""


class RunPolicy(Model):
    """Retries, time limits, suspension and clean-up of the child Job."""

    suspend: bool = False
    """Create the Job suspended, or suspend a running one (its pods are deleted; progress is kept in
    checkpoints where the method writes them)."""
    backoff_limit: int = Field(default=2, ge=0, le=100)
    """Pod failures retried before the job is marked Failed."""
    active_deadline_seconds: Optional[int] = Field(default=None, ge=1)
    """Wall-clock limit for the whole Job, retries included."""
    ttl_seconds_after_finished: Optional[int] = Field(default=None, ge=0)
    """Delete the child Job this long after it finishes. The tuneforge resource and its status stay,
    so GitOps tools keep seeing it as in sync."""
