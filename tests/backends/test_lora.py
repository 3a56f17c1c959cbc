"""The real LoRA method on the built-in SmolLM2-135M, on CPU, through `tuneforge run`."""

import json

import pytest
from support.run import tuneforge

from tuneforge.worker import record

pytestmark = pytest.mark.slow




@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, root):
    out = tmp_path_factory.mktemp("lora") / "out"
    proc = tuneforge(
        "run", str(root / "examples" / "finetune-lora-local.yaml"), "--output", str(out),
        "--set", "spec.training.maxSteps=8", "--set", "spec.training.maxLength=128",
        "--set", "spec.training.saveSteps=4",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def test_loss_goes_down(lora_run):
    out, _ = lora_run
    history = json.loads((out / "loss-history.json").read_text())
    losses = [h["loss"] for h in history]
    assert len(losses) >= 6
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:2]) / 2, losses


def test_record_matches_the_files_on_disk(lora_run):
    out, _ = lora_run
    rec = record.read(out)
    assert record.mismatches(out) == []
    paths = {f["path"] for f in rec["files"]}
    assert {"adapter/adapter_model.safetensors", "adapter/adapter_config.json", "merged/model.safetensors",
            "merged/config.json", "merged/tokenizer.json", "loss.png"} <= paths
    assert rec["method"] == "lora" and rec["inputs"]["model"]["uri"] == "builtin://smollm2-135m-instruct"
    assert rec["metrics"]["steps"] == 8
    assert rec["metrics"]["finalLoss"] == json.loads((out / "loss-history.json").read_text())[-1]["loss"]
    assert not (out / "checkpoints").exists(), "checkpoints are removed after a finished run"
    png = (out / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # The plot's title names the job and its method (matplotlib writes it as the PNG's Title too).
    assert b"Title\x00FineTuneJob/lora-local: lora on smollm2-135m-instruct" in png


def test_merged_model_loads_and_generates(lora_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, proc = lora_run
    tokenizer = AutoTokenizer.from_pretrained(out / "merged")
    model = AutoModelForCausalLM.from_pretrained(out / "merged")
    assert not any("lora" in name for name, _ in model.named_parameters())
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Spell 'river' backwards."}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    text = tokenizer.decode(model.generate(**inputs, max_new_tokens=16, do_sample=False)[0][inputs["input_ids"].shape[1]:],
                            skip_special_tokens=True)
    assert text.strip()
    # The CLI prints the worker's own generation from the merged folder it just wrote.
    sample = record.read(out)["metrics"]["sample"]["completion"]
    assert sample and f"    {sample}" in proc.stdout
    assert f"model: {out / 'merged'}" in proc.stdout


def test_dataset_without_the_declared_columns_fails_before_training(tmp_path, root):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"question": "hi", "answer": "hello"}\n')
    proc = tuneforge("run", str(root / "examples" / "finetune-lora-local.yaml"), "--output", str(tmp_path / "out"),
                     "--set", f"spec.dataset.uri=file://{data}", timeout=300)
    assert proc.returncode == 2
    assert (f"dataset.format: file://{data} is declared as chat, which needs column(s) messages; "
            "the file has: question, answer") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_invalid_override_is_a_validation_error(root, tmp_path):
    proc = tuneforge("run", str(root / "examples" / "finetune-lora-local.yaml"), "--output", str(tmp_path),
                     "--set", "spec.method=qlora", timeout=120)
    assert proc.returncode == 2
    assert "spec.quantization: method qlora needs 4-bit settings" in proc.stderr


def test_a_finished_output_is_not_overwritten(lora_run, root):
    out, _ = lora_run
    before = (out / "tuneforge-output.json").read_text()
    proc = tuneforge("run", str(root / "examples" / "finetune-lora-local.yaml"), "--output", str(out), timeout=120)
    assert proc.returncode == 2
    assert f"spec.output: {out} already holds a finished job (tuneforge-output.json)" in proc.stderr
    assert "--set spec.output.overwrite=true to replace it" in proc.stderr
    assert "pass --resume to keep it" in proc.stderr
    assert (out / "tuneforge-output.json").read_text() == before
