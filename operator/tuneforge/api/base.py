"""The base model of every API type, and how cross-field rules report their problems.

Models are frozen, camelCase on the wire, and reject unknown fields. Cross-field rules are
written as `problems()` generators yielding `(field path, message)`; one `after` validator
collects them all so a user sees every rule they broke at once, each naming its field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kube_custom_resource import schema
from pydantic import ConfigDict, model_validator
from pydantic_core import PydanticCustomError

# Re-exported so API modules import their schema helpers from one place.
Optional = schema.Optional
Dict = schema.Dict
IntOrString = schema.IntOrString
AnyValue = schema.Any

Problem = tuple[str, str]

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

    def problems(self) -> Iterator[Problem]:
        """Cross-field rules of this model: yield (camelCase field path, message)."""
        return iter(())

    @model_validator(mode="after")
    def _check_rules(self) -> Model:
        found = list(self.problems())
        if found:
            summary = "; ".join(f"{path}: {msg}" if path else msg for path, msg in found)
            raise PydanticCustomError(RULE_ERROR, "{summary}", {"summary": summary, "problems": found})
        return self

    def is_set(self, field: str) -> bool:
        return field in self.model_fields_set

    def wire(self) -> dict[str, Any]:
        """The camelCase JSON form without unset optional fields, as a user would write it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
