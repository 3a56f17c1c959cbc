"""Row formats other tools use (alpaca, sharegpt), column mappings, rows that do not fit, and several
datasets mixed by weight: read with the worker's own loader, then a few real training steps."""

import json

import pytest
import yaml
from support.builders import finetune
from support.run import learned, run_doc

from tuneforge.api.finetune import FineTuneSpec
from tuneforge.api.sources import DatasetSource
from tuneforge.backends.common.rows import DatasetError, load_rows
from tuneforge.backends.finetune.data import shares, training_rows


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read(path, fmt, columns=None, report=None, seed=1):
    source = DatasetSource(uri=f"file://{path}", format=fmt, columns=columns)
    return load_rows(path, fmt, source.uri, seed=seed, columns=source.columns, report=report)


def alpaca_rows(n=20):
    return [{"instruction": f"Double {a}.", "input": "" if a % 2 else f"Show the sum {a} + {a}.", "output": f"{2 * a}"}
            for a in range(n)]


def test_alpaca_rows_become_conversations(tmp_path):
    rows = [{"instruction": "Add the numbers.", "input": "2 and 3", "output": "5", "system": "Be brief.",
             "history": [["Hi", "Hello!"]]},
            {"instruction": "Name a colour.", "input": "", "output": "Blue", "system": None, "history": None}]
    got = sorted(read(jsonl(tmp_path / "a.jsonl", rows), "alpaca")["messages"], key=len)
    assert got[0] == [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue"}]
    assert got[1] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Add the numbers.\n\n2 and 3"},
                      {"role": "assistant", "content": "5"}]


def test_sharegpt_roles_and_a_system_field(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}], "system": "Be exact."}]
    assert read(jsonl(tmp_path / "s.jsonl", rows), "sharegpt")["messages"] == [[
        {"role": "system", "content": "Be exact."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]]


def test_chat_under_other_names(tmp_path):
    rows = [{"dialog": [{"speaker": "customer", "text": "Where is my parcel?"}, {"speaker": "agent", "text": "On its way."}]}]
    columns = {"messages": "dialog", "roleKey": "speaker", "contentKey": "text", "roles": {"customer": "user", "agent": "assistant"}}
    assert read(jsonl(tmp_path / "c.jsonl", rows), "chat", columns)["messages"] == [[
        {"role": "user", "content": "Where is my parcel?"}, {"role": "assistant", "content": "On its way."}]]


def test_preference_with_the_conversation_under_another_key(tmp_path):
    rows = [{"conversation": [{"role": "user", "content": "2+2?"}], "good": "4", "bad": "5"}]
    got = read(jsonl(tmp_path / "p.jsonl", rows), "preference", {"prompt": "conversation", "chosen": "good", "rejected": "bad"})
    assert got[0] == {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
                      "rejected": [{"role": "assistant", "content": "5"}]}


def test_preference_rows_with_a_system_field_and_single_message_answers(tmp_path):
    rows = [{"system": "Be exact.", "question": "2+2?", "chosen": "4", "rejected": "5"},
            {"messages": None, "question": "3+3?", "chosen": {"role": "assistant", "content": "6"},
             "rejected": {"role": "assistant", "content": "7"}}]
    got = read(jsonl(tmp_path / "p.jsonl", rows), "preference", {"prompt": "question"})
    by_question = {r["prompt"][-1]["content"]: r for r in got}
    assert by_question["2+2?"]["prompt"] == [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "2+2?"}]
    assert by_question["2+2?"]["chosen"] == [{"role": "assistant", "content": "4"}]
    assert by_question["3+3?"]["prompt"] == [{"role": "user", "content": "3+3?"}]
    assert by_question["3+3?"]["rejected"] == [{"role": "assistant", "content": "7"}]


def test_a_mapped_column_that_no_row_has_is_named(tmp_path):
    path = jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "c", "rejected": "r"}])
    with pytest.raises(DatasetError, match=r"^dataset.columns.chosen: file://\S+ has no column 'good'; the file has: prompt, chosen, rejected$"):
        read(path, "preference", {"chosen": "good"})


def test_rows_that_do_not_fit_are_skipped_and_named(tmp_path, capfd):
    rows = alpaca_rows(20)
    rows[3] = {"instruction": "Double 3.", "input": ""}  # no output
    rows[11]["output"] = ""
    report = {}
    got = read(jsonl(tmp_path / "a.jsonl", rows), "alpaca", report=report)
    assert len(got) == 18
    assert report == {"rows": 20, "skipped": 2, "skippedRows": ["row 4: no 'output'", "row 12: no 'output'"]}
    assert "warning: dataset: 2 of 20 rows of file://" in capfd.readouterr().err


def test_a_dataset_where_most_rows_fail_stops_with_the_rows_named(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "bot", "value": "hello"}]}] * 6
    rows += [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}] * 4
    with pytest.raises(DatasetError) as failed:
        read(jsonl(tmp_path / "s.jsonl", rows), "sharegpt")
    assert str(failed.value).startswith(
        "dataset: 6 of 10 rows of file://")
    assert ("do not fit the sharegpt format (check format and columns): row 1: 'conversations' message 2 has role "
            "'bot', which is not system, user, assistant or tool: map it with columns.roles; row 2:") in str(failed.value)


def test_a_wrong_content_key_names_the_keys_the_messages_have(tmp_path):
    rows = [{"messages": [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "hello"}]}] * 3
    with pytest.raises(DatasetError, match=r"row 1: 'messages' message 1 has no 'content' \(its keys: role, text; "
                                           r"set columns.contentKey\)"):
        read(jsonl(tmp_path / "c.jsonl", rows), "chat")


def test_shares_follow_the_weights_without_taking_a_row_twice():
    assert shares([100, 30], [None, None]) == [100, 30]
    assert shares([100, 30], [2, 1]) == [60, 30]
    assert shares([100, 30], [1, 1]) == [30, 30]
    assert shares([1000, 10, 500], [1, 1, 8]) == [10, 10, 80]


def test_a_weighted_mix_records_what_came_from_each(tmp_path):
    chat = jsonl(tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": f"q{i}"},
                                                         {"role": "assistant", "content": f"a{i}"}]} for i in range(50)])
    alpaca = jsonl(tmp_path / "alpaca.jsonl", alpaca_rows(40))
    spec = FineTuneSpec.model_validate(finetune("lora").drop("spec.dataset").set("spec.datasets", [
        {"uri": f"file://{chat}", "format": "chat", "weight": 3}, {"uri": f"file://{alpaca}", "format": "alpaca", "weight": 1}])["spec"])
    train, held, report = training_rows(spec)
    assert held is None and len(train) == 50 + 16
    assert [(r["format"], r["rows"], r["taken"], r["share"]) for r in report] == [("chat", 50, 50, 0.7576), ("alpaca", 40, 16, 0.2424)]
    from_alpaca = sum(m[0]["content"].startswith("Double") for m in train["messages"])
    assert from_alpaca == 16
    again, _, _ = training_rows(spec)
    assert again["messages"] == train["messages"], "the same seed mixes the same way"


@pytest.mark.slow
def test_training_on_the_mixed_example_with_a_mapped_dataset_added(root, tmp_path):
    """examples/finetune-mixed-datasets.yaml (chat, alpaca and sharegpt, 2:1:1) and a fourth dataset whose
    conversations are stored under other names, weight 2."""
    dialog = jsonl(tmp_path / "dialog.jsonl", [
        {"dialog": [{"speaker": "customer", "text": f"What is {a} plus {a}?"}, {"speaker": "agent", "text": f"{a} plus {a} is {2 * a}."}]}
        for a in range(60)])
    doc = yaml.safe_load((root / "examples" / "finetune-mixed-datasets.yaml").read_text())
    doc["spec"]["datasets"].append({"uri": f"file://{dialog}", "format": "chat", "weight": 2, "columns": {
        "messages": "dialog", "roleKey": "speaker", "contentKey": "text", "roles": {"customer": "user", "agent": "assistant"}}})
    doc["spec"]["training"].update(maxSteps=8, batchSize=4, maxLength=128)
    out, _ = run_doc(tmp_path, doc, "mixed")
    assert learned(out)
    taken = json.loads((out / "tuneforge-output.json").read_text())["inputs"]["datasets"]
    # Weights 2:1:1:2 over 355, 139, 48 and 60 rows: the 60 dialogues are the scarcest for their weight.
    assert [(d["format"], d["rows"], d["taken"]) for d in taken] == [
        ("chat", 355, 60), ("alpaca", 139, 30), ("sharegpt", 48, 30), ("chat", 60, 60)]
    assert [d["share"] for d in taken] == [0.3333, 0.1667, 0.1667, 0.3333]


@pytest.mark.slow
def test_dpo_on_pairs_under_other_names(tmp_path):
    pairs = jsonl(tmp_path / "pairs.jsonl", [
        {"conversation": [{"role": "user", "content": f"What is {a} + {a}?"}], "good": f"{a} + {a} = {2 * a}.",
         "bad": f"{a} + {a} = {2 * a + 1}."} for a in range(40)])
    doc = finetune("dpo", name="pairs").set("spec.dataset", {
        "uri": f"file://{pairs}", "format": "preference", "validationFraction": 0.2,
        "columns": {"prompt": "conversation", "chosen": "good", "rejected": "bad"}}
    ).set("spec.training", {"maxSteps": 6, "evalSteps": 6, "learningRate": 5.0e-4, "batchSize": 4, "maxLength": 96})
    out, _ = run_doc(tmp_path, dict(doc), "pairs")
    held = [h for h in json.loads((out / "loss-history.json").read_text()) if "eval_rewards/margins" in h]
    # Before the first step the adapter is a no-op (margin 0); after six the chosen answers lead.
    assert held[0]["eval_rewards/margins"] == pytest.approx(0, abs=1e-6) and held[-1]["eval_rewards/margins"] > 0, held
