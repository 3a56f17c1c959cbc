"""Datasets as a list and column mappings: what `tuneforge validate` says of each mistake."""

import pytest
from support.builders import finetune

from tuneforge.api.manifest import parse

CHAT = {"uri": "builtin://chat-mini", "format": "chat"}
ALPACA = {"uri": "builtin://alpaca-mini", "format": "alpaca"}


def lines(doc) -> list[str]:
    _, issues = parse(dict(doc))
    return [f"{i.path}: {i.message}" for i in issues]


CASES = [
    (finetune("lora").set("spec.datasets", [CHAT]), "spec.datasets: set dataset (one) or datasets (a list), not both"),
    (finetune("lora").drop("spec.dataset").set("spec.datasets", []), "spec.datasets: List should have at least 1 item after validation, not 0"),
    (finetune("lora").set("spec.dataset.weight", 2), "spec.dataset.weight: weight sets a share of a mix: it applies to entries of datasets (a list)"),
    (finetune("lora").drop("spec.dataset").set("spec.datasets", [{**CHAT, "weight": 2}, ALPACA]),
     "spec.datasets[1].weight: either every entry of datasets has a weight or none does (1 of 2 have one)"),
    (finetune("lora").drop("spec.dataset").set("spec.datasets", [CHAT, {**CHAT, "weight": 0}]),
     "spec.datasets[1].weight: Input should be greater than 0"),
    (finetune("lora").drop("spec.dataset").set("spec.datasets", [CHAT, {"uri": "file:///p.jsonl", "format": "instruction"}]),
     "spec.datasets[1].format: instruction rows cannot be mixed with datasets[0]'s chat rows: one mix "
     "trains on one shape (chat, alpaca and sharegpt rows mix)"),
    (finetune("dpo").set("spec.dataset", ALPACA),
     "spec.dataset.format: method dpo needs preference (prompt/chosen/rejected) data, got alpaca (which becomes chat) "
     "(which is for methods full, lora, qlora)"),
    (finetune("lora").set("spec.dataset", {**CHAT, "format": "alpaca"}), "spec.dataset.format: builtin://chat-mini holds chat rows, not alpaca"),
    (finetune("lora").set("spec.dataset", {**ALPACA, "columns": {"chosen": "good"}}),
     "spec.dataset.columns.chosen: chosen applies to preference data, not alpaca"),
    (finetune("lora").set("spec.dataset", {**ALPACA, "columns": {"roleKey": "speaker"}}),
     "spec.dataset.columns.roleKey: roleKey describes messages, which alpaca rows do not hold"),
    (finetune("lora").set("spec.dataset", {**CHAT, "columns": {"messages": ""}}),
     "spec.dataset.columns.messages: empty: name the field, or leave the key out for the default"),
    (finetune("lora").set("spec.dataset", {**CHAT, "columns": {"roles": {"bot": "model"}}}),
     "spec.dataset.columns.roles.bot: Input should be 'system', 'user', 'assistant' or 'tool'"),
    (finetune("lora").set("spec.dataset", {**CHAT, "columns": {"mesages": "dialog"}}),
     "spec.dataset.columns.mesages: unknown field; did you mean 'messages'?"),
    (finetune("lora").set("spec.dataset", {**ALPACA, "columns": {"instruction": "question", "output": "answer"},
                                            "format": "text"}),
     "spec.dataset.format: builtin://alpaca-mini holds alpaca rows, not text"),
]


@pytest.mark.parametrize("doc, expected", CASES, ids=[c[1].split(":")[0] + str(n) for n, c in enumerate(CASES)])
def test_bad_dataset_settings(doc, expected):
    assert expected in lines(doc), lines(doc)


def test_good_lists_and_mappings_pass():
    mixed = finetune("lora").drop("spec.dataset").set("spec.datasets", [
        {**CHAT, "weight": 2}, {**ALPACA, "weight": 1},
        {"uri": "builtin://sharegpt-mini", "format": "sharegpt", "weight": 1,
         "columns": {"messages": "conversations", "roleKey": "from", "contentKey": "value", "roles": {"human": "user"}}}])
    assert lines(mixed) == []
    pairs = finetune("dpo").set("spec.dataset", {"uri": "file:///pairs.jsonl", "format": "preference",
                                                  "columns": {"prompt": "conversation", "chosen": "good", "rejected": "bad"}})
    assert lines(pairs) == []
