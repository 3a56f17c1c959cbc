"""The merge backend: mergekit's methods driven by a MergeJob (CPU by default)."""

from __future__ import annotations

from typing import Any

from ...api.base import Issue
from ...api.merge import MERGE_METHODS
from ..base import Backend, ConfigReader
from .plan import plan


def offline_checks(resource: Any, config: ConfigReader) -> list[Issue]:
    """Architecture and shape agreement of the inputs whose configs are readable offline."""
    from .compat import problems

    configs = {}
    for source in resource.spec.inputs():
        found = config(source)
        if found is not None:
            configs[source.describe()] = found
    return problems(resource.spec, configs)


BACKEND = Backend("mergekit", "MergeJob", tuple(MERGE_METHODS), __name__, plan, offline_checks=offline_checks)
