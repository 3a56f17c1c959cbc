"""AWQ and GPTQ through llm-compressor, and AWQ's legacy AutoAWQ engine in an image of its own."""

from __future__ import annotations

from typing import Any

from ...api.base import Issue
from ..base import Backend, ConfigReader
from .plan import plan


def offline_checks(resource: Any, config: ConfigReader) -> list[Issue]:
    """Group sizes that the model's layer shapes can take."""
    from .plan import fit_problems

    found = config(resource.spec.model)
    return [] if found is None else [issue.at("spec") for issue in fit_problems(resource.spec, found)]


# AutoAWQ pins transformers 4.x, so its engine runs in the "autoawq" image (plan.backend_name).
BACKEND = Backend("awq", "QuantizeJob", ("awq", "gptq"), __name__, plan, images=("awq", "autoawq"),
                  offline_checks=offline_checks)
