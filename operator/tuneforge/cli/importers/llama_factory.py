"""A LLaMA-Factory training config as a FineTuneJob; its `dataset` names are looked up in the
dataset_info.json of `dataset_dir` (docs/importing.md has the table of every field)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ... import chat_templates
from .common import Reader, dataset_uri, deepspeed, model_uri, optimizer, precision, reconcile, trainer_arguments

# LLaMA-Factory template names -> tuneforge's; the rest are the model family's own template.
TEMPLATES = {"chatml": "chatml", "llama3": "llama3", "phi": "phi3", "gemma": "gemma", "zephyr": "zephyr",
             "mistral": "mistral"}
NOT_TEMPLATES = {"empty", "default", "alpaca", "vicuna"}
ATTENTION = {"fa2": "flash-attention-2", "sdpa": "sdpa", "disabled": "eager", "auto": "auto"}
NOT_SUPPORTED = {
    "output_dir": "the output is spec.output (tuneforge import --output)",
    "overwrite_output_dir": "set output.overwrite in the manifest when wanted",
    "overwrite_cache": "LLaMA-Factory's preprocessing cache", "preprocessing_num_workers": "rows are read in the worker",
    "dataloader_num_workers": "not a tuneforge setting", "ddp_timeout": "not a tuneforge setting",
    "resume_from_checkpoint": "a restarted job resumes from its newest checkpoint by itself",
    "save_only_model": "checkpoints keep optimizer state so that a restarted pod resumes exactly",
    "plot_loss": "tuneforge always draws the loss curve (loss.png)", "do_train": "a FineTuneJob trains",
    "per_device_eval_batch_size": "evaluation uses training.batchSize", "eval_dataset": "evaluation rows are held out "
    "from each dataset (validationFraction)", "mask_history": "assistant-only loss trains every assistant turn",
    "freeze_trainable_layers": "freeze tuning is not supported", "pref_ftx": "not supported by tuneforge's DPO",
    "preprocessing_batch_size": "rows are read in the worker", "tokenized_path": "rows are tokenized by TRL in the job",
    "streaming": "datasets are downloaded to the shared cache", "buffer_size": "datasets are not streamed",
    "mix_strategy": "datasets are concatenated, or mixed by weight (datasets[].weight)",
    "interleave_probs": "give each entry of datasets a weight instead",
}


def convert(config: dict[str, Any], base: Path, dataset_dir: Path | None) -> Reader:
    r = Reader(config, "LLaMA-Factory")
    r.copy("model_name_or_path", "model.uri", lambda v: model_uri(str(v), base))
    r.copy("model_revision", "model.revision")
    r.copy("trust_remote_code", "model.trustRemoteCode")
    method = _method(r)
    r.put("method", method)
    _lora(r)
    _datasets(r, method, base, dataset_dir)
    _training(r, method)
    _template(r)
    for key, reason in NOT_SUPPORTED.items():
        r.unsupported(key, reason)
    report = r.get("report_to")
    if report not in (None, "none", ["none"]):
        r.note(f"report_to: not supported: {report} (experiment tracking is MLflow: spec.tracking.mlflow.trackingUri)")
    if r.has("hub_model_id"):
        r.put("output.uri", f"hf://{r.get('hub_model_id')}")
    reconcile(r)
    return r


def _method(r: Reader) -> str:
    stage, kind = r.get("stage", "sft"), r.get("finetuning_type", "lora")
    bits = r.get("quantization_bit")
    if r.has("quantization_method") and r.config["quantization_method"] != "bnb":
        r.unsupported("quantization_method", f"{r.config['quantization_method']}: tuneforge quantizes the base with bitsandbytes")
    else:
        r.get("quantization_method")
    if kind not in ("lora", "full"):
        r.note(f"finetuning_type: not supported: {kind} (tuneforge trains lora or full; imported as lora)")
    if stage in ("sft", "pt"):
        method = "full" if kind == "full" else ("qlora" if bits == 4 else "lora")
    elif stage in ("dpo", "kto"):
        method = stage
        if stage == "dpo" and r.config.get("pref_loss") == "orpo":
            method = "orpo"
        if kind == "full":
            r.put("adapter", "none")
    else:
        r.note(f"stage: not supported: {stage} (tuneforge trains sft, pt, dpo and kto; rm and ppo are not supported)")
        method = "lora"
    if bits in (4, 8) and not (method == "lora" and bits == 4) and method != "full":
        r.put("quantization.bits", bits)
    elif bits is not None and method == "full":
        r.note(f"quantization_bit: not supported: {bits} with full fine-tuning (a quantized base trains an adapter)")
    r.copy("quantization_type", "quantization.quantType")
    r.copy("double_quantization", "quantization.doubleQuant")
    return method


def _lora(r: Reader) -> None:
    rank = r.get("lora_rank")
    if rank is not None:
        r.put("lora.r", rank)
    alpha = r.get("lora_alpha")
    if alpha is not None or rank is not None:
        r.put("lora.alpha", alpha if alpha is not None else rank * 2)  # LLaMA-Factory's default: twice the rank
    r.copy("lora_dropout", "lora.dropout")
    target = r.get("lora_target")
    if target is not None:
        names = [t.strip() for t in str(target).split(",") if t.strip()]
        r.put("lora.targetModules", ["all-linear"] if names == ["all"] else names)
    r.copy("use_rslora", "lora.useRslora")
    r.copy("use_dora", "lora.useDora")


def _datasets(r: Reader, method: str, base: Path, dataset_dir: Path | None) -> None:
    names = [n.strip() for n in str(r.get("dataset") or "").split(",") if n.strip()]
    folder = dataset_dir or (base / str(r.get("dataset_dir") or "data"))
    info_path = folder / "dataset_info.json"
    if names and not info_path.is_file():
        r.note(f"dataset: not supported without its description: {', '.join(names)} are names in LLaMA-Factory's "
               f"dataset_info.json, not found at {info_path} (pass --dataset-dir)")
        return
    info = json.loads(info_path.read_text()) if names else {}
    samples, fraction = r.get("max_samples"), r.get("val_size")
    entries = []
    for name in names:
        entry = _dataset(r, method, name, info.get(name), folder)
        if entry is None:
            continue
        if samples:
            entry["maxSamples"] = int(samples)
        if isinstance(fraction, (int, float)) and 0 < fraction < 1:
            entry["validationFraction"] = fraction
        entries.append(entry)
    if len(entries) == 1:
        r.put("dataset", entries[0])
    elif entries:
        r.put("datasets", entries)
    if entries and method in ("lora", "qlora", "full") and entries[0]["format"] != "text" and not r.get("train_on_prompt"):
        r.put("training.assistantOnlyLoss", True)
        r.note("train_on_prompt: false (LLaMA-Factory's default) -> training.assistantOnlyLoss: true; it needs a chat "
               "template that marks assistant turns (chatTemplate: chatml, llama3, ... do; a model's own may not)")


def _dataset(r: Reader, method: str, name: str, spec: dict[str, Any] | None, folder: Path) -> dict[str, Any] | None:
    where = f"dataset {name}"
    if spec is None:
        r.note(f"{where}: not supported: no entry in {folder / 'dataset_info.json'}")
        return None
    if spec.get("hf_hub_url"):
        entry: dict[str, Any] = {"uri": f"hf://datasets/{spec['hf_hub_url']}"}
    elif spec.get("file_name"):
        entry = {"uri": dataset_uri(str(folder / spec["file_name"]), folder)}
    else:
        r.note(f"{where}: not supported: only file_name and hf_hub_url sources (not ms_hub_url, script_url, cloud_file_name)")
        return None
    for key in ("subset", "folder", "num_samples"):
        if spec.get(key):
            r.note(f"{where}.{key}: not supported: tuneforge reads the dataset's files as they are")
    if spec.get("split"):
        entry["split"] = spec["split"]
    columns, tags = spec.get("columns") or {}, spec.get("tags") or {}
    sharegpt = spec.get("formatting", "alpaca") == "sharegpt"
    for key in ("tools", "images", "videos", "audios", "kto_tag"):
        if columns.get(key):
            r.note(f"{where}.columns.{key}: not supported: " + ("KTO rows are read as prompt/completion/label or "
                   "preference pairs" if key == "kto_tag" else "text-only training"))
    if r.config.get("stage") == "pt":
        entry["format"], mapped = "text", {"text": columns.get("prompt", "text")}
    elif spec.get("ranking"):
        entry["format"] = "preference"
        mapped = {"prompt": columns.get("messages", "conversations") if sharegpt else columns.get("prompt", "instruction"),
                  "chosen": columns.get("chosen", "chosen"), "rejected": columns.get("rejected", "rejected"),
                  "system": columns.get("system")}
        if not sharegpt and columns.get("query", "input"):
            r.note(f"{where}: the input column of ranked alpaca rows is not read (preference rows take one prompt field)")
    elif sharegpt:
        entry["format"] = "sharegpt"
        mapped = {"messages": columns.get("messages"), "system": columns.get("system")}
    else:
        entry["format"] = "alpaca"
        mapped = {"instruction": columns.get("prompt"), "input": columns.get("query"), "output": columns.get("response"),
                  "system": columns.get("system"), "history": columns.get("history")}
    if sharegpt:
        mapped.update(_tags(tags))
    mapped = {k: v for k, v in mapped.items() if v}
    keys = ("from", "value") if entry["format"] == "sharegpt" else ("role", "content")
    default = {"messages": "conversations", "instruction": "instruction", "input": "input", "output": "output",
               "system": "system", "history": "history", "text": "text", "roleKey": keys[0], "contentKey": keys[1]}
    kept = {k: v for k, v in mapped.items() if default.get(k) != v}
    if kept:
        entry["columns"] = kept
    return entry


def _tags(tags: dict[str, Any]) -> dict[str, Any]:
    """sharegpt tags: the message keys and the role names (LLaMA-Factory's defaults are ShareGPT's)."""
    roles = {tags.get("user_tag", "human"): "user", tags.get("assistant_tag", "gpt"): "assistant",
             tags.get("system_tag", "system"): "system", tags.get("observation_tag", "observation"): "tool",
             tags.get("function_tag", "function_call"): "assistant"}
    out: dict[str, Any] = {"roleKey": tags.get("role_tag", "from"), "contentKey": tags.get("content_tag", "value")}
    if any(k in tags for k in ("user_tag", "assistant_tag", "system_tag", "observation_tag", "function_tag")):
        out["roles"] = roles
    return out


def _training(r: Reader, method: str) -> None:
    t = "training."
    r.copy("cutoff_len", t + "maxLength")
    r.copy("per_device_train_batch_size", t + "batchSize")
    r.copy("num_train_epochs", t + "epochs", float)
    trainer_arguments(r, "lr_scheduler_type")
    r.copy("warmup_steps", t + "warmupSteps")
    optimizer(r, "optim")
    strategy, steps = r.get("eval_strategy"), r.get("eval_steps")
    if steps is not None and strategy in (None, "steps"):
        r.put(t + "evalSteps", steps)
    elif strategy not in (None, "no"):
        r.note(f"eval_strategy: not supported: {strategy} (tuneforge evaluates every training.evalSteps steps)")
    if r.get("packing") or r.get("neat_packing"):
        r.put(t + "packing", True)  # tuneforge's packing never lets attention cross sequences, as neat_packing
    chosen = precision(r.get("bf16"), r.get("fp16"))
    if chosen:
        r.put(t + "precision", chosen)
    attention = r.get("flash_attn")
    if attention is not None:
        r.put(t + "attention", ATTENTION.get(attention, "auto"))
    if r.get("enable_liger_kernel"):
        r.put(t + "ligerKernels", "on")
    if r.get("disable_gradient_checkpointing"):
        r.put(t + "gradientCheckpointing", "off")
    beta = r.get("pref_beta")
    if beta is not None and method in ("dpo", "orpo", "kto"):
        r.put(f"{method}.beta", beta)
    loss = r.get("pref_loss")
    if loss not in (None, "sigmoid", "orpo"):
        if loss in ("ipo", "hinge"):
            r.put("dpo.lossType", loss)
        else:
            r.note(f"pref_loss: not supported: {loss} (tuneforge's DPO losses are TRL's: dpo.lossType)")
    r.copy("kto_chosen_weight", "kto.desirableWeight")
    r.copy("kto_rejected_weight", "kto.undesirableWeight")
    deepspeed(r)


def _template(r: Reader) -> None:
    name = r.get("template")
    if name is None:
        return
    if name in TEMPLATES:
        r.put("chatTemplate", TEMPLATES[name])
    elif name in NOT_TEMPLATES:
        r.note(f"template: not supported: {name} (tuneforge ships {', '.join(chat_templates.TEMPLATES)}; or inline Jinja)")
    else:
        r.put("chatTemplate", chat_templates.OWN)
        r.note(f"template: {name} -> chatTemplate: tokenizer (LLaMA-Factory's {name} template is the model family's "
               "own chat template, which the model's tokenizer carries)")
