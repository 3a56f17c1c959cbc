"""The tokenizer a FineTuneJob trains with: its chat template (the model's own, one tuneforge ships, or
inline), its special tokens (added to the vocabulary and the embeddings when missing), and a check,
before any step, that assistant-only loss finds the assistant's turns in the rendered template."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ... import chat_templates
from ...errors import InputError

PROBE = [{"role": "system", "content": "Probe system text."}, {"role": "user", "content": "Probe question text?"},
         {"role": "assistant", "content": "Probe answer text."}]


@dataclass
class Changes:
    template: str | None = None  # what the record calls the template
    added: list[str] = field(default_factory=list)  # tokens new to the vocabulary
    added_ids: list[int] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"chatTemplate": self.template, "addedTokens": self.added}


def prepare(spec, model, tokenizer) -> Changes:
    changes = Changes()
    _special_tokens(spec.special_tokens, tokenizer, changes)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    _template(spec, tokenizer, changes)
    if changes.added:
        model.resize_token_embeddings(len(tokenizer))
        changes.added_ids = tokenizer.convert_tokens_to_ids(changes.added)
    if spec.training.assistant_only_loss:
        check_assistant_mask(tokenizer, changes.template)
    return changes


def _special_tokens(settings, tokenizer, changes: Changes) -> None:
    if settings is None:
        return
    vocabulary = tokenizer.get_vocab()
    named = {f"{key}_token": getattr(settings, key) for key in ("pad", "eos", "bos") if getattr(settings, key)}
    wanted = [*named.values(), *settings.additional]
    changes.added = [t for t in dict.fromkeys(wanted) if t not in vocabulary]
    tokenizer.add_special_tokens({**named, **({"extra_special_tokens": settings.additional} if settings.additional else {})},
                                 replace_extra_special_tokens=False)


def _template(spec, tokenizer, changes: Changes) -> None:
    value = spec.chat_template
    if value is None or value == chat_templates.OWN:
        changes.template = "tokenizer" if tokenizer.chat_template else None
        return
    if value.startswith(f"{chat_templates.OWN}:"):
        tokenizer.chat_template, changes.template = _named(tokenizer, value.split(":", 1)[1]), value
        return
    if chat_templates.is_inline(value):
        tokenizer.chat_template, changes.template = value, "inline"
        return
    chosen = chat_templates.TEMPLATES[value]
    vocabulary = tokenizer.get_vocab()
    missing = [m for m in chosen.markers if m not in vocabulary]
    if missing:
        raise InputError(f"chatTemplate: {value} ({chosen.family}) is built from {', '.join(chosen.markers)}, and this "
                         f"tokenizer has no token {', '.join(missing)}: list them in specialTokens.additional (their "
                         f"embeddings are then trained) or use the model's own template (leave chatTemplate out)")
    tokenizer.chat_template, changes.template = chosen.jinja, value


def _named(tokenizer, name: str) -> str:
    own = tokenizer.chat_template
    known = own if isinstance(own, dict) else ({"default": own} if own else {})
    if name not in known:
        raise InputError(f"chatTemplate: tokenizer:{name}: the model's tokenizer has no template named {name}; it has: "
                         f"{', '.join(known) or 'none'}")
    return known[name]


def check_assistant_mask(tokenizer, template: str | None) -> None:
    """Render a probe conversation and ask the template which tokens are the assistant's: exactly the
    answer, never the question, or assistant-only loss would train on nothing (or on everything)."""
    name = template or "none"
    hint = ("so the loss cannot be limited to them; name a template that marks them (chatTemplate: "
            f"{', '.join(chat_templates.TEMPLATES)}) or turn training.assistantOnlyLoss off")
    if tokenizer.chat_template is None:
        raise InputError(f"training.assistantOnlyLoss: the model has no chat template, {hint}")
    try:
        rendered = tokenizer.apply_chat_template(PROBE, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    except Exception as exc:  # jinja2 raises its own types for a template that does not render
        raise InputError(f"chatTemplate: the template ({name}) does not render a system, user and assistant turn: {exc}") from None
    ids, mask = rendered["input_ids"], rendered["assistant_masks"]
    marked = tokenizer.decode([i for i, m in zip(ids, mask) if m])
    if not any(mask):
        raise InputError(f"training.assistantOnlyLoss: the chat template ({name}) does not mark assistant turns "
                         f"({{% generation %}} ... {{% endgeneration %}}), {hint}")
    if PROBE[2]["content"] not in marked or PROBE[1]["content"] in marked:
        raise InputError(f"training.assistantOnlyLoss: the chat template ({name}) marks other text than the assistant's "
                         f"turn as the assistant's ({marked[:120]!r}), {hint}")
