"""The base of the three custom resources: apiVersion, kind, metadata, spec, status."""

from __future__ import annotations

from collections.abc import Iterator

from kube_custom_resource import CustomResource
from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from .base import RFC1123_LABEL, RULE_ERROR, Model, Issue
from .common import Output, Resources, RunPolicy, Scheduling
from .constants import MAX_NAME_LENGTH
from .status import Status


METHOD_COLUMN = {"name": "Method", "type": "string", "jsonPath": ".spec.method"}
PHASE_COLUMN = {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}
PROGRESS_COLUMN = {"name": "Progress", "type": "integer", "jsonPath": ".status.progress.percent", "description": "percent done"}


class JobSpec(Model):
    """Spec parts every kind has."""

    resources: Resources = Field(default_factory=Resources)
    """What each worker pod asks for."""
    scheduling: Scheduling = Field(default_factory=Scheduling)
    """Node selection, tolerations, priority and Kueue queue."""
    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    """Retries, deadlines, suspension and clean-up."""
    output: Output = Field(default_factory=Output)
    """Where the result goes."""


def name_problems(name: str) -> Iterator[Issue]:
    if len(name) > MAX_NAME_LENGTH:
        yield Issue("name", f"'{name}' is {len(name)} characters; at most {MAX_NAME_LENGTH} so the Job and Pod names "
                    "derived from it stay valid")
    if not RFC1123_LABEL.match(name):
        yield Issue("name", f"'{name}' is not a valid name: use lower case letters, digits and '-', "
                    "starting and ending with a letter or digit (RFC 1123)")


class Resource(CustomResource, abstract=True):
    """A tuneforge job resource."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    status: Status = Field(default_factory=Status)
    """Observed state, written by the operator."""

    @model_validator(mode="after")
    def _valid_name(self) -> Resource:
        found = [issue.at("metadata") for issue in name_problems(self.metadata.name)]
        if found:
            summary = "; ".join(issue.line() for issue in found)
            raise PydanticCustomError(RULE_ERROR, "{summary}", {"summary": summary, "problems": found})
        return self
