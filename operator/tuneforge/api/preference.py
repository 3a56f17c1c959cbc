"""Settings of the preference and reinforcement methods: DPO, ORPO, KTO and GRPO (TRL).

GRPO's rewards are chosen by name from the functions tuneforge ships (no code from the manifest
runs): each scores a completion against the row's reference `answer`, or its form or length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from .base import Model, Optional, Issue

RewardName = Literal["exact-match", "numeric-match", "format", "length-penalty"]


class DpoSettings(Model):
    """Direct Preference Optimization settings (TRL)."""

    beta: float = Field(default=0.1, gt=0, le=10)
    """Strength of the pull towards the reference model."""
    loss_type: Literal[
        "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
        "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
    ] = "sigmoid"
    """TRL DPO loss (sigmoid is the original DPO)."""
    label_smoothing: float = Field(default=0.0, ge=0, lt=0.5)
    """Assumed label noise (robust and sigmoid losses)."""
    reference: Literal["adapter-disabled", "copy"] = "adapter-disabled"
    """Reference model: the base model with the adapter switched off (no second copy in memory), or a
    separate frozen copy."""


class OrpoSettings(Model):
    """Odds Ratio Preference Optimization (TRL's experimental ORPOTrainer): SFT and preference in one
    loss, with no reference model."""

    beta: float = Field(default=0.1, gt=0, le=10)
    """Weight of the odds-ratio term against the SFT loss (lambda in the ORPO paper)."""


class KtoSettings(Model):
    """Kahneman-Tversky Optimization (TRL's KTOTrainer): learns from single completions labelled
    desirable or not, so it needs no pairs."""

    beta: float = Field(default=0.1, gt=0, le=10)
    """Strength of the pull towards the reference model."""
    desirable_weight: float = Field(default=1.0, gt=0, le=100)
    """Weight of the desirable rows' loss; raise it when they are fewer than the undesirable ones."""
    undesirable_weight: float = Field(default=1.0, gt=0, le=100)
    """Weight of the undesirable rows' loss."""
    loss_type: Literal["kto", "apo_zero_unpaired"] = "kto"
    """kto (the paper's loss) or apo_zero_unpaired (anchored preference optimization)."""


class RewardSettings(Model):
    """One verifiable reward for GRPO and its weight in the sum."""

    name: RewardName
    """exact-match: 1 when the completion ends with the row's answer (case, spaces and trailing
    punctuation ignored); numeric-match: 1 when its last number is within `tolerance` of the answer;
    format: 1 when `pattern` matches the completion; length-penalty: 0 up to `targetLength`
    characters, falling linearly to -1 at twice that."""
    weight: float = Field(default=1.0, ge=-100, le=100)
    """Multiplies this reward in the sum GRPO maximises."""
    tolerance: Optional[float] = Field(default=None, ge=0)
    """numeric-match only: largest absolute difference still counted as right (default 0)."""
    pattern: Optional[str] = Field(default=None, min_length=1)
    """format only: a Python regular expression searched in the completion (anchor it with ^ and $)."""
    target_length: Optional[int] = Field(default=None, ge=1, le=100_000)
    """length-penalty only: characters allowed before the penalty starts (default 64)."""

    def problems(self) -> Iterator[Issue]:
        own = {"tolerance": ("tolerance", "numeric-match"), "pattern": ("pattern", "format"),
               "target_length": ("targetLength", "length-penalty")}
        for name, (field, reward) in own.items():
            if self.is_set(name) and self.name != reward:
                yield Issue(field, f"{field} applies to reward {reward}, not {self.name}")
        if self.name == "format":
            if self.pattern is None:
                yield Issue("pattern", "reward format needs a pattern (a regular expression)")
            else:
                try:
                    re.compile(self.pattern)
                except re.error as exc:
                    yield Issue("pattern", f"not a valid regular expression: {exc}")


class GrpoSettings(Model):
    """Group Relative Policy Optimization (TRL's GRPOTrainer) with verifiable rewards: for each
    prompt it samples a group of completions, scores them, and moves towards the better ones."""

    num_generations: int = Field(default=4, ge=2, le=256)
    """Completions sampled per prompt; training.batchSize x gradientAccumulationSteps must be a
    multiple of it."""
    max_completion_length: int = Field(default=64, ge=1, le=131_072)
    """Longest completion in tokens."""
    beta: float = Field(default=0.0, ge=0, le=10)
    """KL penalty towards the reference model; 0 (TRL's default) needs no reference model."""
    temperature: float = Field(default=1.0, gt=0, le=10)
    """Sampling temperature of the completions."""
    rewards: list[RewardSettings] = Field(
        default_factory=lambda: [RewardSettings(name="exact-match")], min_length=1, max_length=16)
    """The rewards summed, each with its weight (default: exact-match alone)."""

    def problems(self) -> Iterator[Issue]:
        names = [r.name for r in self.rewards]
        for name in sorted({n for n in names if names.count(n) > 1}):
            yield Issue("rewards", f"reward {name} is listed twice; give it one entry with its weight")
