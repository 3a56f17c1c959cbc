"""The chat template and special tokens a FineTuneJob trains with (Axolotl's `chat_template` and
`special_tokens`, LLaMA-Factory's `template`)."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from .. import chat_templates
from .base import Issue, Model, Optional


class SpecialTokens(Model):
    """Tokens the tokenizer should use, added to its vocabulary when missing; their embeddings then
    train (with every parameter in full fine-tuning; beside a LoRA adapter, the input and output
    embeddings train whole, as Axolotl's lora_modules_to_save)."""

    pad: Optional[str] = Field(default=None, min_length=1)
    """Padding token (default: the tokenizer's, else its end-of-sequence token)."""
    eos: Optional[str] = Field(default=None, min_length=1)
    """End-of-sequence token: appended to each training sequence, and where generation stops."""
    bos: Optional[str] = Field(default=None, min_length=1)
    """Beginning-of-sequence token."""
    additional: list[str] = Field(default_factory=list, max_length=256)
    """More special tokens, e.g. a chat template's markers that the vocabulary lacks."""

    def problems(self) -> Iterator[Issue]:
        for n, token in enumerate(self.additional):
            if not token.strip():
                yield Issue(f"additional[{n}]", "empty: a special token has at least one visible character")
        seen = [t for t in self.additional if self.additional.count(t) > 1]
        if seen:
            yield Issue("additional", f"{seen[0]} is listed twice")


def template_problems(value: str | None, data_format: str) -> Iterator[Issue]:
    if value is None:
        return
    if data_format == "text":
        yield Issue("chatTemplate", "a chat template renders conversations; text rows are trained on as they are")
        return
    if chat_templates.is_inline(value) or value in chat_templates.names() or value.startswith(f"{chat_templates.OWN}:"):
        return
    yield Issue("chatTemplate", f"unknown chat template '{value}'; known: {', '.join(chat_templates.names())} "
                                f"(or tokenizer:NAME for one of the model's named templates, or an inline Jinja template)")
