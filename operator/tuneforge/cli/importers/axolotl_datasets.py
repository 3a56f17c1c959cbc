"""The `datasets` of an Axolotl config: each entry's type read as a tuneforge row format and columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import Reader, dataset_uri

PREF = ("dpo", "orpo", "kto", "grpo")
# Preference row shapes by the suffix of Axolotl's `type` (chatml.intel, llama3.prompt_pairs, ...).
PAIRS = {"intel": {"prompt": "question"}, "prompt_pairs": {}, "icr": {"prompt": "input"},
         "argilla": {"prompt": "instruction", "chosen": "chosen_response", "rejected": "rejected_response"}}
UNPAIRED = {"intel": {"prompt": "question"}, "prompt_pairs": {}, "argilla": {"prompt": "instruction"}}
# The keys of a `datasets` entry the importer reads (any other is listed as not supported).
READ_KEYS = {"path", "type", "split", "ds_type", "data_files", "field_messages", "field_chosen", "field_rejected",
             "message_property_mappings", "message_field_role", "message_field_content", "roles", "field"}


def read(r: Reader, method: str, base: Path) -> None:
    fraction = r.get("val_set_size")
    entries = []
    for n, d in enumerate(r.get("datasets") or []):
        entry = _dataset(r, method, d, base, f"datasets[{n}]")
        if entry is None:
            continue
        if isinstance(fraction, (int, float)) and 0 < fraction < 1:
            entry["validationFraction"] = fraction
        entries.append(entry)
    if isinstance(fraction, (int, float)) and fraction >= 1:
        r.note(f"val_set_size: not supported: {fraction} rows; tuneforge holds out a fraction (validationFraction)")
    if len(entries) == 1:
        r.put("dataset", entries[0])
    elif entries:
        r.put("datasets", entries)
    train_on_inputs = r.get("train_on_inputs")
    if entries and all(e["format"] in ("chat", "alpaca", "sharegpt") for e in entries) and not train_on_inputs:
        r.put("training.assistantOnlyLoss", True)
        r.note("train_on_inputs: false (Axolotl's default) -> training.assistantOnlyLoss: true; it needs a chat template "
               "that marks assistant turns (chatTemplate: chatml, llama3, ... do; a model's own may not)")
    r.unsupported("shuffle_merged_datasets", "datasets are always shuffled with training.seed")


def _dataset(r: Reader, method: str, d: dict[str, Any], base: Path, where: str) -> dict[str, Any] | None:
    kind, path = d.get("type"), d.get("path")
    if not path:
        r.note(f"{where}: not supported: no path")
        return None
    uri = dataset_uri(str(d.get("data_files") or path), base) if d.get("ds_type") in ("json", "parquet", "csv") else dataset_uri(str(path), base)
    entry: dict[str, Any] = {"uri": uri}
    if d.get("split"):
        entry["split"] = d["split"]
    for key in sorted(set(d) - READ_KEYS):
        if d[key] not in (None, "", [], {}):
            reason = "assistant-only loss trains every assistant turn" if key in ("roles_to_train", "train_on_eos") \
                else "tuneforge reads the dataset's files as they are"
            r.note(f"{where}.{key}: not supported: {reason}")
    columns: dict[str, Any] = {}
    suffix = str(kind).split(".")[-1] if isinstance(kind, str) else None
    if method in ("dpo", "orpo") and suffix in PAIRS:
        entry["format"], columns = "preference", dict(PAIRS[suffix])
    elif method in ("dpo", "orpo") and kind == "chat_template.default":
        entry["format"] = "preference"
        columns = {"prompt": d.get("field_messages", "messages"), "chosen": d.get("field_chosen", "chosen"),
                   "rejected": d.get("field_rejected", "rejected"), **_message_keys(d)}
    elif method == "kto" and suffix in UNPAIRED:
        entry["format"], columns = "unpaired", dict(UNPAIRED[suffix])
    elif str(kind).split(":")[0] in ("alpaca", "alpaca_chat", "alpaca_w_system.load_open_orca") and method not in PREF:
        entry["format"] = "alpaca"
    elif kind in ("chat_template", "sharegpt") and method not in PREF:
        entry["format"] = "sharegpt" if kind == "sharegpt" else "chat"
        if d.get("field_messages"):
            columns["messages"] = d["field_messages"]
        columns.update(_message_keys(d))
    elif kind == "completion":
        entry["format"] = "text"
        if d.get("field"):
            columns["text"] = d["field"]
    else:
        r.note(f"{where}.type: not supported: {kind} for {method} (tuneforge reads alpaca, chat_template, sharegpt, "
               "completion; for preference methods *.intel, *.prompt_pairs, *.icr, *.argilla, chat_template.default)")
        return None
    if columns:
        entry["columns"] = {k: v for k, v in columns.items() if v}
    return entry


def _message_keys(d: dict[str, Any]) -> dict[str, Any]:
    """Axolotl's message_property_mappings (or the older message_field_*) and roles: {ours: [theirs]}."""
    mapping = d.get("message_property_mappings") or {}
    keys = {"roleKey": mapping.get("role") or d.get("message_field_role"),
            "contentKey": mapping.get("content") or d.get("message_field_content")}
    roles = {theirs: ours for ours, names in (d.get("roles") or {}).items() if ours in ("system", "user", "assistant", "tool")
             for theirs in ([names] if isinstance(names, str) else names) if theirs != ours}
    return {**{k: v for k, v in keys.items() if v}, **({"roles": roles} if roles else {})}


