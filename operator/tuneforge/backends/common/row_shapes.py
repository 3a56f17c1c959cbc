"""Rows of any format, under any field names, turned into the shape their canonical format has
(alpaca and sharegpt rows into chat messages, mapped columns under the format's own names, role
names mapped), row by row: a row that does not fit is named with its number and what it lacks."""

from __future__ import annotations

from typing import Any

from ...api.columns import CANONICAL, FIELDS, OPTIONAL_FIELDS, ROLES, ColumnMapping

# The format's fields that a row must have, in order (optional ones are read when present).
FORMAT_FIELDS = {fmt: [key for key, formats in FIELDS.items() if fmt in formats] for fmt in CANONICAL}
MESSAGE_VALUES = {"prompt", "completion", "chosen", "rejected"}  # may be plain text or messages


class RowProblem(ValueError):
    """What is wrong with one row (the caller adds the dataset and the row number)."""


def source_fields(fmt: str, columns: ColumnMapping) -> dict[str, str]:
    """{format field: the dataset's field} for every field a row of `fmt` is read from."""
    return {key: columns.field(key, fmt) for key in FORMAT_FIELDS[fmt]}


def reshape(row: dict[str, Any], fmt: str, columns: ColumnMapping) -> dict[str, Any]:
    """The row in its canonical format's shape; RowProblem when it does not fit."""
    fields = source_fields(fmt, columns)
    for key, name in fields.items():
        if key not in OPTIONAL_FIELDS and _empty(row.get(name)):
            raise RowProblem(f"no '{name}'" + (f" (columns.{key})" if getattr(columns, key) else ""))
    if fmt == "alpaca":
        return {"messages": _alpaca(row, fields)}
    if fmt in ("chat", "sharegpt"):
        turns = _messages(row[fields["messages"]], fmt, columns, fields["messages"])
        system = row.get(fields["system"]) if "system" in fields else None
        if system and not any(t["role"] == "system" for t in turns):
            turns.insert(0, {"role": "system", "content": str(system)})
        if not any(t["role"] == "assistant" for t in turns):
            raise RowProblem(f"'{fields['messages']}' has no assistant turn")
        return {"messages": turns}
    out = {key: row.get(name) for key, name in fields.items() if key != "system"}
    for key in MESSAGE_VALUES & out.keys():
        if isinstance(out[key], dict):  # one message (Axolotl's chat_template.default pairs)
            out[key] = [out[key]]
    system = row.get(fields["system"]) if "system" in fields else None
    conversational = bool(system) or any(isinstance(out.get(key), list) for key in MESSAGE_VALUES)
    for key in MESSAGE_VALUES & out.keys():
        value = out[key]
        if isinstance(value, list):
            out[key] = _messages(value, fmt, columns, fields[key])
        elif conversational:  # TRL takes all-text or all-messages rows: a plain answer becomes a turn
            out[key] = [{"role": "user" if key == "prompt" else "assistant", "content": str(value)}]
        else:
            out[key] = str(value)
    if system and not any(t["role"] == "system" for t in out["prompt"]):
        out["prompt"].insert(0, {"role": "system", "content": str(system)})
    return out


def _alpaca(row: dict[str, Any], fields: dict[str, str]) -> list[dict[str, str]]:
    turns = []
    if not _empty(row.get(fields["system"])):
        turns.append({"role": "system", "content": str(row[fields["system"]])})
    for number, pair in enumerate(row.get(fields["history"]) or [], start=1):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise RowProblem(f"'{fields['history']}' entry {number} is not an [instruction, answer] pair")
        turns += [{"role": "user", "content": str(pair[0])}, {"role": "assistant", "content": str(pair[1])}]
    prompt = str(row[fields["instruction"]])
    if not _empty(row.get(fields["input"])):
        prompt = f"{prompt}\n\n{row[fields['input']]}"
    return [*turns, {"role": "user", "content": prompt}, {"role": "assistant", "content": str(row[fields["output"]])}]


def _messages(value: Any, fmt: str, columns: ColumnMapping, name: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise RowProblem(f"'{name}' is not a list of messages")
    role_key, content_key = columns.message_keys(fmt)
    names = columns.role_names(fmt)
    turns = []
    for number, message in enumerate(value, start=1):
        if not isinstance(message, dict) or _empty(message.get(role_key)):
            raise RowProblem(f"'{name}' message {number} has no '{role_key}'" + _key_hint("roleKey", role_key, message))
        if message.get(content_key) is None:
            raise RowProblem(f"'{name}' message {number} has no '{content_key}'" + _key_hint("contentKey", content_key, message))
        role = names.get(message[role_key])
        if role not in ROLES:
            raise RowProblem(f"'{name}' message {number} has role '{message[role_key]}', which is not "
                             "system, user, assistant or tool: map it with columns.roles")
        turns.append({"role": role, "content": str(message[content_key])})
    return turns


def _key_hint(setting: str, key: str, message: Any) -> str:
    if isinstance(message, dict) and message:
        keys = ", ".join(k for k, v in message.items() if v is not None)
        return f" (its keys: {keys}; set columns.{setting})"
    return ""


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []
