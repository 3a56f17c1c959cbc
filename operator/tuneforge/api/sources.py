"""Where models and datasets come from: URIs with a scheme, or the output of another job."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Literal

from pydantic import Field, field_validator

from .base import Model, Optional, Issue
from .columns import ColumnMapping

SCHEMES = ("hf", "s3", "pvc", "file", "builtin", "oci")

BUILTIN_MODELS = ("smollm2-135m-instruct",)
# name -> the dataset format it holds
BUILTIN_DATASETS = {
    "chat-mini": "chat",
    "preference-mini": "preference",
    "calibration-mini": "text",
    "answers-mini": "verifiable",
    "alpaca-mini": "alpaca",
    "sharegpt-mini": "sharegpt",
}

JobKind = Literal["FineTuneJob", "MergeJob", "QuantizeJob"]
DatasetFormat = Literal["chat", "instruction", "preference", "unpaired", "verifiable", "text", "alpaca", "sharegpt"]


def check_uri(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(
            f"'{uri}' has no known scheme; use one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    if not rest.strip("/"):
        raise ValueError(f"'{uri}' names nothing after {scheme}://")
    if scheme in ("s3", "pvc") and rest.startswith("/"):
        what = "bucket: s3://bucket/prefix" if scheme == "s3" else "claim: pvc://claim/path"
        raise ValueError(f"'{uri}' needs a {what}")
    if scheme == "file" and not rest.startswith("/"):
        raise ValueError(f"'{uri}' must be absolute: file:///path")
    if scheme in ("pvc", "s3", "hf") and "//" in rest.rstrip("/"):
        raise ValueError(f"'{uri}' has an empty path segment ('//'): paths inside {scheme}:// are relative")
    if scheme == "oci":
        from .oci import parse

        parse(uri)
    if scheme in ("pvc", "s3", "hf") and ".." in rest.split("/"):
        where = {"pvc": "its claim", "s3": "its bucket", "hf": "its repository"}[scheme]
        raise ValueError(f"'{uri}' contains '..': a {scheme}:// path stays inside {where}")
    return uri


def builtin_name(uri: str | None) -> str | None:
    if uri and uri.startswith("builtin://"):
        return uri.removeprefix("builtin://").strip("/")
    return None


# Keys an s3:// secretRef reads from its Secret (name, optional); the endpoint makes MinIO, Ceph,
# R2 and other S3-compatible stores work without an operator-wide setting.
S3_SECRET_KEYS = (("AWS_ACCESS_KEY_ID", False), ("AWS_SECRET_ACCESS_KEY", False), ("AWS_SESSION_TOKEN", True),
                  ("AWS_ENDPOINT_URL", True), ("AWS_DEFAULT_REGION", True))


class SecretRef(Model):
    """A Secret in the job's namespace holding a credential; its value is never copied into the spec."""

    name: str = Field(min_length=1)
    """Name of the Secret."""
    key: Optional[str] = None
    """Key holding the hf:// token (default `token`), or for oci:// the docker config (default
    `.dockerconfigjson`, as `kubectl create secret docker-registry` writes it). s3:// reads the keys AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, and AWS_SESSION_TOKEN, AWS_ENDPOINT_URL (for MinIO and other S3-compatible
    stores) and AWS_DEFAULT_REGION when present."""

    def keys(self, uri: str | None) -> list[tuple[str, bool]]:
        """(key, optional) read from the Secret for a source or output at `uri`."""
        if uri and uri.startswith("s3://"):
            return list(S3_SECRET_KEYS)
        if uri and uri.startswith(("http://", "https://")):  # an MLflow tracking server
            return list(MLFLOW_SECRET_KEYS)
        if uri and uri.startswith("oci://"):  # a docker-config Secret (kubernetes.io/dockerconfigjson)
            return [(self.key or DOCKER_CONFIG_KEY, False)]
        return [(self.key or "token", False)]


# The key of a kubernetes.io/dockerconfigjson Secret: registry credentials for oci:// sources and outputs.
DOCKER_CONFIG_KEY = ".dockerconfigjson"

# Keys read from an MLflow tracking Secret, all optional (MLflow's own variable names): basic auth, or
# a bearer token, and the switch for a server with a self-signed certificate.
MLFLOW_SECRET_KEYS = (("MLFLOW_TRACKING_USERNAME", True), ("MLFLOW_TRACKING_PASSWORD", True),
                      ("MLFLOW_TRACKING_TOKEN", True), ("MLFLOW_TRACKING_INSECURE_TLS", True))


def secret_env(name: str, key: str) -> str:
    """The worker's environment variable that holds one key of a Secret (filled by secretKeyRef).
    The hash keeps two names that differ only in punctuation apart."""
    digest = hashlib.sha256(f"{name}\0{key}".encode()).hexdigest()[:6].upper()
    clean = [re.sub("[^A-Z0-9]", "_", part.upper()) for part in (name, key)]
    return f"TUNEFORGE_SECRET_{clean[0]}__{clean[1]}_{digest}"


def secret_problems(uri: str | None, ref: SecretRef | None) -> Iterator[Issue]:
    if ref is not None and ref.key and uri and uri.startswith("s3://"):
        yield Issue("secretRef.key", "s3:// reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally "
                    "AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION) from the Secret; key applies to hf:// tokens only")
    if ref is not None and uri and uri.startswith(("file://", "pvc://", "builtin://")):
        yield Issue("secretRef", f"{uri.partition(':')[0]}:// needs no credentials; secretRef applies to hf://, s3:// and oci://")


def insecure_problems(uri: str | None, insecure: bool) -> Iterator[Issue]:
    if insecure and not (uri or "").startswith("oci://"):
        yield Issue("insecure", "insecure (plain HTTP) applies to oci:// registries only")


class JobRef(Model):
    """Another tuneforge job in the same namespace whose output is used as input."""

    kind: JobKind
    """Kind of the upstream job: FineTuneJob, MergeJob or QuantizeJob."""
    name: str = Field(min_length=1)
    """Name of the upstream job."""


class ModelSource(Model):
    """A model: exactly one of `uri` or `fromJob`."""

    uri: Optional[str] = None
    """hf://org/name, s3://bucket/prefix, pvc://claim/path, file:///path or builtin://smollm2-135m-instruct."""
    revision: Optional[str] = None
    """Branch, tag or commit for hf:// sources; pin it for reproducible runs."""
    secret_ref: Optional[SecretRef] = None
    """Credentials for private sources (hf token, S3 keys)."""
    from_job: Optional[JobRef] = None
    """Use the output of another job; it must have succeeded first."""
    trust_remote_code: bool = False
    """Allow the model's own Python code to run. Off by default: it executes code from the source."""
    allow_pickle: bool = False
    """Load pickle weight files (.bin, .pt, .pth, .ckpt, .pkl) of a model that has no safetensors or GGUF. Off by default: unpickling runs code from the file."""
    insecure: bool = False
    """oci:// only: talk plain HTTP to the registry. Loopback registries (localhost, 127.0.0.1) get it
    without asking; any other needs this, since credentials and weights would cross the network unencrypted."""

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str | None) -> str | None:
        return uri if uri is None else check_uri(uri)

    cel_rules = ({"rule": "has(self.uri) != has(self.fromJob)", "message": "set exactly one of uri or fromJob"},)

    def problems(self) -> Iterator[Issue]:
        if (self.uri is None) == (self.from_job is None):
            yield Issue("", "set exactly one of uri or fromJob")
        name = builtin_name(self.uri)
        if name is not None and name not in BUILTIN_MODELS:
            yield Issue("uri", f"unknown built-in model '{name}'; built-in models: {', '.join(BUILTIN_MODELS)}")
        if self.from_job is not None and (self.revision or self.secret_ref):
            yield Issue("fromJob", "revision and secretRef apply to uri sources, not to fromJob")
        yield from secret_problems(self.uri, self.secret_ref)
        yield from insecure_problems(self.uri, self.insecure)

    def describe(self) -> str:
        if self.from_job is not None:
            return f"{self.from_job.kind}/{self.from_job.name}"
        return self.uri or ""


class DatasetSource(Model):
    """A dataset file or folder (JSONL, JSON, Parquet, CSV) and the shape of its rows."""

    uri: str
    """builtin://chat-mini, builtin://preference-mini, builtin://answers-mini, builtin://calibration-mini,
    builtin://alpaca-mini, builtin://sharegpt-mini, file:///data.jsonl,
    hf://datasets/org/name, s3://bucket/key or pvc://claim/path."""
    format: DatasetFormat = "chat"
    """Row shape: chat (`messages`), instruction (`prompt`/`completion`),
    preference (`prompt`/`chosen`/`rejected`), unpaired (`prompt`/`completion` and a boolean `label`,
    true for a desirable completion), verifiable (`prompt` and the reference `answer`), text (`text`);
    alpaca (`instruction`, optional `input`, `output`, optional `system` and `history`) and sharegpt
    (`conversations` of `from`/`value` messages, roles human/gpt/system) become chat rows."""
    columns: Optional[ColumnMapping] = None
    """Where the rows keep the format's fields, when under other names (and the messages' keys and roles)."""
    revision: Optional[str] = None
    """Branch, tag or commit for hf:// datasets."""
    secret_ref: Optional[SecretRef] = None
    """Credentials for private sources."""
    split: str = "train"
    """Split to train on, for hf:// datasets with named splits."""
    validation_split: Optional[str] = None
    """Named split used for evaluation."""
    validation_fraction: Optional[float] = Field(default=None, gt=0, lt=1)
    """Fraction of the training rows held out for evaluation when there is no validation split."""
    max_samples: Optional[int] = Field(default=None, ge=1)
    """Use at most this many rows (after shuffling with the training seed)."""

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        return check_uri(uri)

    def problems(self) -> Iterator[Issue]:
        name = builtin_name(self.uri)
        if name is not None:
            if name not in BUILTIN_DATASETS:
                yield Issue("uri", f"unknown built-in dataset '{name}'; built-in datasets: {', '.join(BUILTIN_DATASETS)}")
            elif BUILTIN_DATASETS[name] != self.format:
                yield Issue("format", f"builtin://{name} holds {BUILTIN_DATASETS[name]} rows, not {self.format}")
        if self.validation_split and self.validation_fraction:
            yield Issue("validationFraction", "set validationSplit or validationFraction, not both")
        if self.columns is not None:
            yield from (issue.at("columns") for issue in self.columns.checked_for(self.format))
        yield from secret_problems(self.uri, self.secret_ref)
