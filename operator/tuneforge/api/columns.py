"""Row formats and where each finds its fields: tuneforge's own shapes, the Alpaca and ShareGPT
shapes that Axolotl, LLaMA-Factory and the hub use, and `columns`, which renames any of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from .base import Dict, Issue, Model, Optional

# The shape a row of each format becomes before training: alpaca and sharegpt rows become chat rows.
CANONICAL = {
    "chat": "chat", "instruction": "instruction", "preference": "preference", "unpaired": "unpaired",
    "verifiable": "verifiable", "text": "text", "alpaca": "chat", "sharegpt": "chat",
}
Role = Literal["system", "user", "assistant", "tool"]
ROLES = ("system", "user", "assistant", "tool")

# columns key -> {format: the field's default name}; a key applies to the formats listed.
FIELDS: dict[str, dict[str, str]] = {
    "messages": {"chat": "messages", "sharegpt": "conversations"},
    "prompt": {"instruction": "prompt", "preference": "prompt", "unpaired": "prompt", "verifiable": "prompt"},
    "completion": {"instruction": "completion", "unpaired": "completion"},
    "chosen": {"preference": "chosen"},
    "rejected": {"preference": "rejected"},
    "label": {"unpaired": "label"},
    "answer": {"verifiable": "answer"},
    "text": {"text": "text"},
    "instruction": {"alpaca": "instruction"},
    "input": {"alpaca": "input"},
    "output": {"alpaca": "output"},
    "system": {"alpaca": "system", "sharegpt": "system", "preference": "system", "unpaired": "system"},
    "history": {"alpaca": "history"},
}
# Fields a row may lack (the rest must be in every row).
OPTIONAL_FIELDS = {"input", "system", "history"}
# Formats whose values may be lists of messages (whose keys and role names columns can map).
MESSAGE_FORMATS = ("chat", "sharegpt", "instruction", "preference", "unpaired", "verifiable")
MESSAGE_KEYS = {"sharegpt": ("from", "value")}  # (role key, content key); role/content elsewhere
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant",
                  "function_call": "assistant", "observation": "tool", "tool": "tool"}


class ColumnMapping(Model):
    """Where the rows keep their fields, when not under the format's own names. Each key names the
    dataset's field for one of the format's fields; roleKey, contentKey and roles describe messages."""

    messages: Optional[str] = None
    """chat: the list of messages (default `messages`); sharegpt: the conversation (default `conversations`)."""
    prompt: Optional[str] = None
    """instruction, preference, unpaired, verifiable: the prompt (a string or a list of messages)."""
    completion: Optional[str] = None
    """instruction, unpaired: the completion."""
    chosen: Optional[str] = None
    """preference: the preferred answer."""
    rejected: Optional[str] = None
    """preference: the rejected answer."""
    label: Optional[str] = None
    """unpaired: the boolean label (true for a desirable completion)."""
    answer: Optional[str] = None
    """verifiable: the reference answer."""
    text: Optional[str] = None
    """text: the text."""
    instruction: Optional[str] = None
    """alpaca: the instruction (default `instruction`)."""
    input: Optional[str] = None
    """alpaca: the optional input appended to the instruction (default `input`)."""
    output: Optional[str] = None
    """alpaca: the answer (default `output`)."""
    system: Optional[str] = None
    """alpaca, sharegpt, preference, unpaired: an optional system prompt field (default `system`)."""
    history: Optional[str] = None
    """alpaca: optional earlier turns as [instruction, answer] pairs (default `history`), LLaMA-Factory's field."""
    role_key: Optional[str] = None
    """The key of a message's role (default `role`; sharegpt `from`)."""
    content_key: Optional[str] = None
    """The key of a message's text (default `content`; sharegpt `value`)."""
    roles: Optional[Dict[str, Role]] = None
    """The dataset's role names -> system, user, assistant or tool (sharegpt knows human, gpt,
    function_call and observation already)."""

    def checked_for(self, fmt: str) -> Iterator[Issue]:
        """Keys that mean nothing for rows of `fmt`: refused rather than ignored."""
        for key, formats in FIELDS.items():
            if getattr(self, key) is not None and fmt not in formats:
                yield Issue(key, f"{key} applies to {_listed(formats)} data, not {fmt}")
        for key in ("role_key", "content_key", "roles"):
            if getattr(self, key) is not None and fmt not in MESSAGE_FORMATS:
                wire = {"role_key": "roleKey", "content_key": "contentKey"}.get(key, key)
                yield Issue(wire, f"{wire} describes messages, which {fmt} rows do not hold")
        for key, formats in FIELDS.items():
            if getattr(self, key) == "":
                yield Issue(key, "empty: name the field, or leave the key out for the default")

    def field(self, key: str, fmt: str) -> str:
        """The dataset's name for the format's field `key`."""
        return getattr(self, key) or FIELDS[key][fmt]

    def message_keys(self, fmt: str) -> tuple[str, str]:
        role, content = MESSAGE_KEYS.get(fmt, ("role", "content"))
        return self.role_key or role, self.content_key or content

    def role_names(self, fmt: str) -> dict[str, str]:
        known = dict(SHAREGPT_ROLES) if fmt == "sharegpt" else {r: r for r in ROLES}
        return {**known, **(self.roles or {})}


def _listed(formats) -> str:
    names = list(formats)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
