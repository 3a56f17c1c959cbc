"""The base model of every API type, and how cross-field rules report their problems.

Models are frozen, camelCase on the wire, and reject unknown fields. Cross-field rules are
written as `problems()` generators yielding `Issue(field path, message)`; one `after` validator
collects them all so a user sees every rule they broke at once, each naming its field. `Issue` is
the one shape of "a problem with a field" from the API to `tuneforge validate` and the worker.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

from kube_custom_resource import schema
from pydantic import ConfigDict, model_validator
from pydantic_core import PydanticCustomError

# Re-exported so API modules import their schema helpers from one place.
Optional = schema.Optional
Dict = schema.Dict
IntOrString = schema.IntOrString
AnyValue = schema.Any



class Issue(NamedTuple):
    """A problem with a field: its path (camelCase, dotted, relative to whoever reports it; "" for
    the whole document), what is wrong and how to fix it, and whether it stops the job."""

    path: str
    message: str
    severity: str = "error"  # error | warning

    def at(self, prefix: str) -> Issue:
        """The same issue with its path under `prefix` (the caller knows where the field lives)."""
        if not prefix or not self.path:
            return self._replace(path=prefix or self.path)
        return self._replace(path=f"{prefix}{self.path}" if self.path.startswith("[") else f"{prefix}.{self.path}")

    def line(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


RULE_ERROR = "tuneforge_rule"

RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Model(schema.BaseModel):
    """Frozen, camelCase, and strict about unknown fields."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_assignment=False,
        use_attribute_docstrings=True,
    )

    cel_rules: ClassVar[tuple[dict[str, str], ...]] = ()
    """The subset of `problems()` the API server can check itself (CEL, x-kubernetes-validations on
    this model's schema): declared here, beside the rules they restate, and rendered into the CRDs."""

    def problems(self) -> Iterator[Issue]:
        """Cross-field rules of this model: yield Issue(camelCase field path, message)."""
        return iter(())

    @model_validator(mode="after")
    def _check_rules(self) -> Model:
        found = list(self.problems())
        if found:
            summary = "; ".join(issue.line() for issue in found)
            raise PydanticCustomError(RULE_ERROR, "{summary}", {"summary": summary, "problems": found})
        return self

    def is_set(self, field: str) -> bool:
        return field in self.model_fields_set

    def wire(self) -> dict[str, Any]:
        """The camelCase JSON form without unset optional fields, as a user would write it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
