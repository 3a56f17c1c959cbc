"""`tuneforge import` on configs written as Axolotl's and LLaMA-Factory's docs write them: SFT with LoRA
and QLoRA, DPO and full fine-tuning; each printed manifest validates, and every field without a
tuneforge equivalent is listed on stderr with its reason."""

import json

import pytest
import yaml
from click.testing import CliRunner

from tuneforge.api.manifest import parse
from tuneforge.cli import main


def imported(tool: str, tmp_path, config: dict, *args: str):
    path = tmp_path / "peer.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["import", tool, str(path), *args])
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    return result, (docs[0] if docs else None), result.stderr.splitlines()


def valid(doc) -> bool:
    return parse(doc)[1] == []


AXOLOTL_LORA = {
    "base_model": "NousResearch/Llama-3.2-1B", "datasets": [{"path": "teknium/GPT4-LLM-Cleaned", "type": "alpaca"}],
    "val_set_size": 0.1, "output_dir": "./outputs/lora-out", "adapter": "lora", "lora_model_dir": None,
    "sequence_len": 2048, "sample_packing": True, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
    "lora_target_linear": True, "wandb_project": None, "gradient_accumulation_steps": 2, "micro_batch_size": 2,
    "num_epochs": 1, "optimizer": "adamw_8bit", "lr_scheduler": "cosine", "learning_rate": 0.0002, "bf16": "auto",
    "tf32": False, "gradient_checkpointing": True, "logging_steps": 1, "flash_attention": True,
    "loss_watchdog_threshold": 5.0, "loss_watchdog_patience": 3, "warmup_ratio": 0.1, "evals_per_epoch": 4,
    "weight_decay": 0.0, "special_tokens": {"pad_token": "<|end_of_text|>"},
}


def test_axolotl_lora_on_alpaca(tmp_path):
    result, doc, notes = imported("axolotl", tmp_path, AXOLOTL_LORA, "--name", "smol-lora", "--output", "s3://bucket/lora")
    assert result.exit_code == 0, result.stderr
    assert valid(doc) and doc["metadata"]["name"] == "smol-lora"
    spec = doc["spec"]
    assert (spec["method"], spec["model"]["uri"], spec["output"]["uri"]) == ("lora", "hf://NousResearch/Llama-3.2-1B", "s3://bucket/lora")
    assert spec["dataset"] == {"uri": "hf://datasets/teknium/GPT4-LLM-Cleaned", "format": "alpaca", "validationFraction": 0.1}
    assert spec["chatTemplate"] == "alpaca" and spec["training"]["assistantOnlyLoss"] is True
    assert spec["lora"] == {"r": 16, "alpha": 32, "dropout": 0.05, "targetModules": ["all-linear"]}
    t = spec["training"]
    assert (t["optimizer"], t["lossWatchdog"], t["attention"], t["packing"]) == (
        "adamw_bnb_8bit", {"threshold": 5.0, "patience": 3}, "flash-attention-2", True)
    assert spec["specialTokens"] == {"pad": "<|end_of_text|>"} and spec["resources"] == {"gpus": 1}
    assert "peer.yaml: output_dir: not supported: the output is spec.output (tuneforge import --output)" in notes
    assert "peer.yaml: evals_per_epoch: not supported: evaluation runs every training.evalSteps steps" in notes
    assert "peer.yaml: ignored (empty in the Axolotl config): lora_model_dir, wandb_project" in notes


def test_axolotl_qlora_on_mapped_conversations(tmp_path):
    config = {"base_model": "Qwen/Qwen2.5-0.5B", "adapter": "qlora", "load_in_4bit": True, "chat_template": "chatml",
              "datasets": [{"path": "./data/chats.jsonl", "ds_type": "json", "data_files": "./data/chats.jsonl",
                            "type": "chat_template", "field_messages": "conversations",
                            "message_property_mappings": {"role": "from", "content": "value"},
                            "roles": {"user": ["human"], "assistant": ["gpt"]}, "roles_to_train": ["assistant"]}],
              "lora_r": 8, "lora_alpha": 16, "micro_batch_size": 1, "gradient_accumulation_steps": 4,
              "learning_rate": 1e-4, "num_epochs": 2, "optimizer": "paged_adamw_8bit", "max_grad_norm": 0.3,
              "fsdp": ["full_shard"], "wandb_project": "qwen"}
    result, doc, notes = imported("axolotl", tmp_path, config)
    assert result.exit_code == 0, result.stderr
    spec = doc["spec"]
    assert valid(doc) and spec["method"] == "qlora" and spec["quantization"] == {"bits": 4}
    assert spec["dataset"]["uri"] == f"file://{(tmp_path / 'data' / 'chats.jsonl').resolve()}"
    assert spec["dataset"]["columns"] == {"messages": "conversations", "roleKey": "from", "contentKey": "value",
                                          "roles": {"human": "user", "gpt": "assistant"}}
    assert (spec["chatTemplate"], spec["training"]["optimizer"], spec["training"]["maxGradNorm"]) == ("chatml", "paged_adamw_8bit", 0.3)
    assert "peer.yaml: fsdp: not supported: FSDP is not supported: use deepspeed (method full)" in notes
    assert "peer.yaml: wandb_project: not supported: experiment tracking is MLflow (spec.tracking)" in notes
    assert "peer.yaml: datasets[0].roles_to_train: not supported: assistant-only loss trains every assistant turn" in notes


def test_axolotl_dpo_and_full(tmp_path):
    dpo = {"base_model": "meta-llama/Meta-Llama-3-8B-Instruct", "rl": "dpo", "rl_beta": 0.2, "adapter": "lora",
           "load_in_8bit": True, "chat_template": "llama3", "lora_target_linear": True,
           "datasets": [{"path": "Intel/orca_dpo_pairs", "split": "train", "type": "chatml.intel"}],
           "micro_batch_size": 2, "learning_rate": 5e-6, "max_steps": 100}
    result, doc, notes = imported("axolotl", tmp_path, dpo)
    assert result.exit_code == 0, result.stderr
    spec = doc["spec"]
    assert valid(doc) and (spec["method"], spec["quantization"], spec["dpo"]) == ("dpo", {"bits": 8}, {"beta": 0.2})
    assert spec["dataset"] == {"uri": "hf://datasets/Intel/orca_dpo_pairs", "split": "train", "format": "preference",
                               "columns": {"prompt": "question"}}
    full = {"base_model": "NousResearch/Meta-Llama-3.1-8B", "datasets": [{"path": "tatsu-lab/alpaca", "type": "alpaca"}],
            "deepspeed": "deepspeed_configs/zero3_bf16.json", "micro_batch_size": 1, "bf16": True, "num_epochs": 1,
            "learning_rate": 2e-5, "optimizer": "adamw_torch_fused"}
    result, doc, notes = imported("axolotl", tmp_path, full, "--gpus", "8")
    assert result.exit_code == 0, result.stderr
    spec = doc["spec"]
    assert valid(doc) and spec["method"] == "full" and spec["deepspeed"] == {"stage": 3}
    assert (spec["training"]["precision"], spec["resources"]) == ("bf16", {"gpus": 8})


def lf_data(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    info = {
        "alpaca_en_demo": {"file_name": "alpaca_en_demo.json"},
        "identity": {"file_name": "identity.json"},
        "glaive_toolcall": {"file_name": "glaive.json", "formatting": "sharegpt",
                            "columns": {"messages": "conversations", "tools": "tools"}},
        "chats": {"file_name": "chats.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
                  "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}},
        "dpo_en_demo": {"file_name": "dpo_en_demo.json", "ranking": True, "formatting": "sharegpt",
                        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
        "ultrachat": {"ms_hub_url": "AI-ModelScope/ultrachat_200k"},
    }
    (data / "dataset_info.json").write_text(json.dumps(info))


def test_llama_factory_lora_on_two_alpaca_datasets(tmp_path):
    lf_data(tmp_path)
    config = {"model_name_or_path": "Qwen/Qwen3-4B-Instruct-2507", "trust_remote_code": True, "stage": "sft",
              "do_train": True, "finetuning_type": "lora", "lora_rank": 8, "lora_target": "all",
              "dataset": "identity,alpaca_en_demo", "template": "qwen3_nothink", "cutoff_len": 2048, "max_samples": 1000,
              "preprocessing_num_workers": 16, "output_dir": "saves/qwen3-4b/lora/sft", "logging_steps": 10,
              "save_steps": 500, "plot_loss": True, "report_to": "none", "per_device_train_batch_size": 1,
              "gradient_accumulation_steps": 8, "learning_rate": 1.0e-4, "num_train_epochs": 3.0,
              "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "bf16": True, "resume_from_checkpoint": None}
    result, doc, notes = imported("llama-factory", tmp_path, config)
    assert result.exit_code == 0, result.stderr
    spec = doc["spec"]
    assert valid(doc) and spec["method"] == "lora" and spec["model"]["trustRemoteCode"] is True
    assert spec["lora"] == {"r": 8, "alpha": 16, "targetModules": ["all-linear"]}
    assert spec["datasets"] == [
        {"uri": f"file://{(tmp_path / 'data' / 'identity.json').resolve()}", "format": "alpaca", "maxSamples": 1000},
        {"uri": f"file://{(tmp_path / 'data' / 'alpaca_en_demo.json').resolve()}", "format": "alpaca", "maxSamples": 1000}]
    assert spec["chatTemplate"] == "tokenizer" and spec["training"]["precision"] == "bf16"
    assert any(n.startswith("peer.yaml: template: qwen3_nothink -> chatTemplate: tokenizer") for n in notes)
    assert "peer.yaml: preprocessing_num_workers: not supported: rows are read in the worker" in notes


def test_llama_factory_qlora_dpo_and_full(tmp_path):
    lf_data(tmp_path)
    qlora = {"model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct", "stage": "sft", "finetuning_type": "lora",
             "quantization_bit": 4, "quantization_method": "bnb", "dataset": "chats,glaive_toolcall", "template": "llama3",
             "lora_rank": 16, "lora_alpha": 32, "val_size": 0.1, "eval_strategy": "steps", "eval_steps": 500}
    result, doc, notes = imported("llama-factory", tmp_path, qlora)
    assert result.exit_code == 0, result.stderr
    spec = doc["spec"]
    assert valid(doc) and (spec["method"], spec["quantization"], spec["chatTemplate"]) == ("qlora", {"bits": 4}, "llama3")
    assert spec["datasets"][0]["columns"] == {"messages": "messages", "roleKey": "role", "contentKey": "content",
                                              "roles": {"user": "user", "assistant": "assistant", "system": "system",
                                                        "observation": "tool", "function_call": "assistant"}}
    assert spec["datasets"][1]["validationFraction"] == 0.1 and spec["training"]["evalSteps"] == 500
    assert "peer.yaml: dataset glaive_toolcall.columns.tools: not supported: text-only training" in notes

    dpo = {"model_name_or_path": "Qwen/Qwen3-4B-Instruct-2507", "stage": "dpo", "finetuning_type": "lora",
           "pref_beta": 0.1, "pref_loss": "sigmoid", "dataset": "dpo_en_demo,ultrachat", "template": "chatml"}
    result, doc, notes = imported("llama-factory", tmp_path, dpo)
    assert result.exit_code == 0, result.stderr
    spec = doc["spec"]
    assert valid(doc) and (spec["method"], spec["dpo"]) == ("dpo", {"beta": 0.1})
    assert spec["dataset"]["format"] == "preference" and spec["dataset"]["columns"]["prompt"] == "conversations"
    assert any("dataset ultrachat: not supported: only file_name and hf_hub_url sources" in n for n in notes)

    full = {"model_name_or_path": "Qwen/Qwen3-4B-Instruct-2507", "stage": "sft", "finetuning_type": "full",
            "deepspeed": "examples/deepspeed/ds_z3_config.json", "dataset": "alpaca_en_demo", "template": "chatml",
            "freeze_trainable_layers": 2}
    result, doc, notes = imported("llama-factory", tmp_path, full, "--gpus", "4")
    assert result.exit_code == 0, result.stderr
    assert valid(doc) and doc["spec"]["method"] == "full" and doc["spec"]["deepspeed"] == {"stage": 3}
    assert "peer.yaml: freeze_trainable_layers: not supported: freeze tuning is not supported" in notes


def test_what_cannot_be_imported_is_said(tmp_path):
    result, doc, notes = imported("llama-factory", tmp_path, {"model_name_or_path": "x/y", "stage": "sft", "dataset": "mine"})
    assert result.exit_code == 1
    assert any("dataset: not supported without its description: mine are names in LLaMA-Factory's dataset_info.json" in n
               for n in notes)
    assert any(n.startswith("peer.yaml: the manifest does not validate: spec.dataset: a FineTuneJob needs training data")
               for n in notes)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    out = CliRunner().invoke(main, ["import", "axolotl", str(bad)])
    assert out.exit_code == 1 and "a config is a mapping of settings, got list" in out.stderr


@pytest.mark.parametrize("tool", ["axolotl", "llama-factory"])
def test_help_names_the_options(tool):
    out = CliRunner().invoke(main, ["import", tool, "--help"])
    assert "--output" in out.stdout and "--name" in out.stdout and "--gpus" in out.stdout
