"""The fine-tuning backend: full, LoRA, QLoRA, DPO, ORPO, KTO, GRPO."""

from __future__ import annotations

from typing import Any

from ...api.base import Issue
from ..base import Backend, ConfigReader
from .plan import plan


def offline_checks(resource: Any, config: ConfigReader) -> list[Issue]:
    """GPU memory fit, when the model's config is readable offline."""
    from .memory import fit_problem

    fit = fit_problem(resource.spec, config(resource.spec.model))
    return [fit.at("spec")] if fit else []


BACKEND = Backend("finetune", "FineTuneJob", ("full", "lora", "qlora", "dpo", "orpo", "kto", "grpo"), __name__, plan,
                  offline_checks=offline_checks)
