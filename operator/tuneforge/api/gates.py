"""Quality gates: thresholds a job's result must meet before anything downstream may use it.

The worker measures, records every check (threshold, value, passed) in the output record and status,
and when one is missed ends with reason GateFailed: the output is kept but marked as not passed, and
no `fromJob` consumer starts from it. Each kind gates on what it measures anyway, or cheaply.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from .base import Issue, Model, Optional
from .sources import DatasetSource


def _answers() -> DatasetSource:
    return DatasetSource(uri="builtin://answers-mini", format="verifiable")


def _text() -> DatasetSource:
    return DatasetSource(uri="builtin://calibration-mini", format="text")


# Each gate's checks need its job's other fields, so its job calls checked_with() from its own problems().


class ExactMatch(Model):
    """Prompts with reference answers: the model answers each (greedy), and an answer counts when it ends
    with the reference as a whole word (case, spacing and final punctuation aside) or, for a number, when
    its last number equals it: the rule of GRPO's exactMatch and numericMatch rewards."""

    dataset: DatasetSource = Field(default_factory=_answers)
    """Prompts and answers (format verifiable: `prompt`, `answer`)."""
    min_accuracy: float = Field(ge=0, le=1)
    """The share of prompts answered correctly the model needs, 0..1."""
    max_rows: int = Field(default=32, ge=1, le=10_000)
    """How many prompts to ask (the first ones)."""
    max_new_tokens: int = Field(default=32, ge=1, le=4096)
    """Tokens each answer may take."""


class FineTuneGate(Model):
    """What the fine-tuned model must reach on held-out data."""

    max_eval_loss: Optional[float] = Field(default=None, gt=0)
    """The highest evaluation loss accepted (the last evaluation; needs training.evalSteps)."""
    max_perplexity: Optional[float] = Field(default=None, ge=1)
    """The highest evaluation perplexity accepted, exp(evaluation loss) (needs training.evalSteps)."""
    exact_match: Optional[ExactMatch] = None
    """Exact-match accuracy on prompts with reference answers."""

    def checked_with(self, eval_steps: int | None) -> Iterator[Issue]:
        if self.max_eval_loss is None and self.max_perplexity is None and self.exact_match is None:
            yield Issue("gate", "a gate needs a threshold: maxEvalLoss, maxPerplexity or exactMatch")
        for name, value in (("maxEvalLoss", self.max_eval_loss), ("maxPerplexity", self.max_perplexity)):
            if value is not None and not eval_steps:
                yield Issue(f"gate.{name}", "gating on evaluation needs an evaluation: set training.evalSteps "
                                            "(and dataset.validationSplit or validationFraction)")
        if self.exact_match is not None and self.exact_match.dataset.format != "verifiable":
            yield Issue("gate.exactMatch.dataset.format", "exact match needs prompts with reference answers "
                        f"(format verifiable: prompt/answer), got {self.exact_match.dataset.format}")


class MergeGate(Model):
    """What the merged model must reach on a text set."""

    dataset: DatasetSource = Field(default_factory=_text)
    """Text to measure perplexity on (format text)."""
    max_tokens: int = Field(default=2048, ge=64, le=1_000_000)
    """Tokens of that text to measure (chunks of 512)."""
    max_perplexity: Optional[float] = Field(default=None, ge=1)
    """The highest perplexity accepted."""
    max_perplexity_ratio: Optional[float] = Field(default=None, ge=1)
    """The highest perplexity accepted relative to the baseModel's on the same text (e.g. 1.05: at most 5%
    worse); needs baseModel."""

    def checked_with(self, has_base: bool) -> Iterator[Issue]:
        if self.max_perplexity is None and self.max_perplexity_ratio is None:
            yield Issue("gate", "a gate needs a threshold: maxPerplexity or maxPerplexityRatio")
        if self.max_perplexity_ratio is not None and not has_base:
            yield Issue("gate.maxPerplexityRatio", "a ratio to the base model needs baseModel")
        if self.dataset.format != "text":
            yield Issue("gate.dataset.format", f"perplexity is measured on text (format text), got {self.dataset.format}")


class QuantizeGate(Model):
    """What every quantized output must reach against the unquantized model (measured by evaluation)."""

    max_kl_divergence: Optional[float] = Field(default=None, ge=0)
    """The highest mean KL divergence from the unquantized model's next-token distribution."""
    min_top1_agreement: Optional[float] = Field(default=None, ge=0, le=1)
    """The lowest share of positions where the most likely next token is the unquantized model's."""
    max_perplexity_ratio: Optional[float] = Field(default=None, ge=1)
    """The highest perplexity relative to the unquantized model's (e.g. 1.1: at most 10% worse)."""
    types: Optional[list[str]] = None
    """GGUF: the types the gate applies to (default: every type written)."""

    def checked_with(self, evaluation_enabled: bool, written: list[str] | None) -> Iterator[Issue]:
        if self.max_kl_divergence is None and self.min_top1_agreement is None and self.max_perplexity_ratio is None:
            yield Issue("gate", "a gate needs a threshold: maxKlDivergence, minTop1Agreement or maxPerplexityRatio")
        if not evaluation_enabled:
            yield Issue("gate", "the gate's values come from the evaluation: drop evaluation.enabled: false")
        if self.types is not None:
            if written is None:
                yield Issue("gate.types", "gate.types picks GGUF types; this method writes one output")
            for name in sorted(set(self.types) - set(written or [])):
                yield Issue("gate.types", f"{name} is not among gguf.types ({', '.join(written or [])})")


# The checks as the worker records them: (spec field, attribute, the quality row's key it reads).
QUANTIZE_CHECKS = (("maxKlDivergence", "max_kl_divergence", "klDivergence"),
                   ("minTop1Agreement", "min_top1_agreement", "top1Agreement"),
                   ("maxPerplexityRatio", "max_perplexity_ratio", "perplexityRatio"))
