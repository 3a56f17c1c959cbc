"""An Axolotl config as a FineTuneJob (docs/importing.md has the table of every field)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ... import chat_templates
from . import axolotl_datasets
from .common import Reader, deepspeed, model_uri, optimizer, precision, reconcile, trainer_arguments

TEMPLATES = {"chatml": "chatml", "llama3": "llama3", "phi_3": "phi3", "gemma": "gemma", "zephyr": "zephyr",
             "mistral_v1": "mistral", "tokenizer_default": chat_templates.OWN}
ATTENTION = {"flash_attention_2": "flash-attention-2", "sdpa": "sdpa", "eager": "eager"}
NOT_SUPPORTED = {
    "dataset_prepared_path": "Axolotl's tokenized-data cache; tuneforge caches sources, not tokenized rows",
    "output_dir": "the output is spec.output (tuneforge import --output)",
    "resume_from_checkpoint": "a restarted job resumes from its newest checkpoint by itself (spec.checkpoints)",
    "auto_resume_from_checkpoints": "a restarted job resumes from its newest checkpoint by itself",
    "evals_per_epoch": "evaluation runs every training.evalSteps steps", "saves_per_epoch": "checkpoints every training.saveSteps steps",
    "eval_sample_packing": "packing applies to training rows", "pad_to_sequence_len": "rows are padded per batch",
    "early_stopping_patience": "no early stopping; see training.lossWatchdog",
    "fsdp": "FSDP is not supported: use deepspeed (method full)", "fsdp_config": "FSDP is not supported: use deepspeed",
    "fsdp_version": "FSDP is not supported", "torch_compile": "not supported", "strict": "Axolotl's own config check",
    "lora_model_dir": "training starts from the base model (resume is automatic)", "debug": "Axolotl's own switch",
    "lora_modules_to_save": "the embeddings train beside the adapter by themselves when specialTokens adds tokens",
    "eot_tokens": "a template's turn end is its own", "lora_mlp_kernel": "Axolotl's LoRA kernels",
    "lora_qkv_kernel": "Axolotl's LoRA kernels", "lora_o_kernel": "Axolotl's LoRA kernels",
    "tokenizer_type": "the model's own tokenizer is used", "model_type": "read from the model's config",
    "gradient_checkpointing_kwargs": "use_reentrant is chosen by transformers",
    "ddp_find_unused_parameters": "set by tuneforge per method", "remove_unused_columns": "rows are read to their format's columns",
}


def convert(config: dict[str, Any], base: Path) -> Reader:
    r = Reader(config, "Axolotl")
    r.copy("base_model", "model.uri", lambda v: model_uri(str(v), base))
    r.copy("revision_of_model", "model.revision")
    r.copy("trust_remote_code", "model.trustRemoteCode")
    method = _method(r)
    r.put("method", method)
    _lora(r, method)
    axolotl_datasets.read(r, method, base)
    _training(r)
    _tokens(r)
    _preference(r, method)
    for key in [k for k in config if k.startswith(("wandb_", "swanlab", "trackio", "comet_", "use_wandb"))]:
        r.unsupported(key, "experiment tracking is MLflow (spec.tracking)")
    for key, reason in NOT_SUPPORTED.items():
        r.unsupported(key, reason)
    if r.has("hub_model_id"):
        r.put("output.uri", f"hf://{r.get('hub_model_id')}")
    if r.has("mlflow_tracking_uri"):
        r.put("tracking.mlflow.trackingUri", r.get("mlflow_tracking_uri"))
        r.copy("mlflow_experiment_name", "tracking.mlflow.experiment")
        r.copy("mlflow_run_name", "tracking.mlflow.runName")
    reconcile(r)
    return r


def _method(r: Reader) -> str:
    rl, adapter = r.get("rl"), r.get("adapter")
    eight, four = r.get("load_in_8bit"), r.get("load_in_4bit")
    if rl is not None:
        rl = {"ipo": "dpo"}.get(rl, rl)
        if rl not in ("dpo", "orpo", "kto", "grpo"):
            r.note(f"rl: not supported: {rl} (tuneforge runs dpo, orpo, kto and grpo)")
            rl = "dpo"
        if adapter is None:
            r.put("adapter", "none")
        if four or eight or adapter == "qlora":
            r.put("quantization.bits", 8 if eight else 4)
        return rl
    if adapter == "qlora" or (adapter == "lora" and four):
        r.put("quantization.bits", 4)
        return "qlora"
    if adapter == "lora":
        if eight:
            r.put("quantization.bits", 8)
        return "lora"
    if adapter is not None:
        r.note(f"adapter: not supported: {adapter} (tuneforge trains lora and qlora adapters)")
    return "full"


def _lora(r: Reader, method: str) -> None:
    if method == "full":  # lora_* left in a config without an adapter: nothing to apply them to
        for key in [k for k in r.config if k.startswith(("lora_", "peft_"))]:
            r.unsupported(key, "no adapter is trained (adapter is not set)")
        return
    r.copy("lora_r", "lora.r")
    r.copy("lora_alpha", "lora.alpha")
    r.copy("lora_dropout", "lora.dropout")
    r.copy("lora_target_modules", "lora.targetModules", lambda v: [v] if isinstance(v, str) else list(v))
    if r.get("lora_target_linear"):
        r.put("lora.targetModules", ["all-linear"])
    r.copy("peft_use_rslora", "lora.useRslora")
    r.copy("peft_use_dora", "lora.useDora")
    kwargs = r.get("bnb_config_kwargs") or {}
    if kwargs.get("bnb_4bit_quant_type"):
        r.put("quantization.quantType", kwargs["bnb_4bit_quant_type"])
    if "bnb_4bit_use_double_quant" in kwargs:
        r.put("quantization.doubleQuant", bool(kwargs["bnb_4bit_use_double_quant"]))


def _training(r: Reader) -> None:
    t = "training."
    r.copy("sequence_len", t + "maxLength")
    r.copy("sample_packing", t + "packing")
    r.copy("micro_batch_size", t + "batchSize")
    r.copy("num_epochs", t + "epochs", float)
    trainer_arguments(r, "lr_scheduler")
    warmup = r.get("warmup_steps")
    if warmup is not None:  # a fraction here is a ratio in Axolotl's examples
        r.put(t + ("warmupRatio" if 0 < warmup < 1 else "warmupSteps"), warmup if 0 < warmup < 1 else int(warmup))
    optimizer(r, "optimizer")
    r.copy("eval_steps", t + "evalSteps")
    if r.has("loss_watchdog_threshold"):
        r.put(t + "lossWatchdog.threshold", r.get("loss_watchdog_threshold"))
        r.copy("loss_watchdog_patience", t + "lossWatchdog.patience")
    checkpointing = r.get("gradient_checkpointing")
    if checkpointing is not None:
        r.put(t + "gradientCheckpointing", "on" if checkpointing else "off")
    chosen = precision(r.get("bf16"), r.get("fp16"))
    if chosen:
        r.put(t + "precision", chosen)
    _speed(r)


def _speed(r: Reader) -> None:
    """Attention kernel, Liger's kernels (settings or plugin) and DeepSpeed."""
    t = "training."
    attention = r.get("attn_implementation")
    if r.get("flash_attention"):
        attention = "flash_attention_2"
    if r.get("sdp_attention"):
        attention = "sdpa"
    if attention is not None:
        if attention in ATTENTION:
            r.put(t + "attention", ATTENTION[attention])
        else:
            r.note(f"attn_implementation: not supported: {attention} (tuneforge: sdpa, eager, flash-attention-2)")
    liger = [k for k in ("liger_rope", "liger_rms_norm", "liger_glu_activation", "liger_fused_linear_cross_entropy",
                         "liger_layer_norm") if r.get(k)]
    for plugin in r.get("plugins") or []:
        if plugin.endswith("LigerPlugin"):
            liger.append(plugin)
        else:
            reason = ("Liger's fused linear cross-entropy (training.ligerKernels) is what tuneforge runs for it"
                      if "cut_cross_entropy" in plugin else "Axolotl plugins do not run in tuneforge")
            r.note(f"plugins: not supported: {plugin} ({reason})")
    if liger:
        r.put(t + "ligerKernels", "on")
    deepspeed(r)


def _tokens(r: Reader) -> None:
    name, jinja = r.get("chat_template"), r.get("chat_template_jinja")
    alpaca = [d for d in r.config.get("datasets") or [] if isinstance(d, dict) and str(d.get("type")).startswith("alpaca")]
    if name is None and jinja is None and alpaca:
        r.put("chatTemplate", "alpaca")  # Axolotl renders alpaca rows with the Alpaca prompt, not a chat template
    elif jinja is not None:
        r.put("chatTemplate", jinja)
    elif name in TEMPLATES:
        r.put("chatTemplate", TEMPLATES[name])
    elif name == "jinja":
        r.note("chat_template: not supported: jinja without chat_template_jinja")
    elif name is not None:  # qwen3, gemma3, llama4, ...: the family's own template, which its tokenizer carries
        r.put("chatTemplate", chat_templates.OWN)
        r.note(f"chat_template: {name} -> chatTemplate: tokenizer (Axolotl's {name} template is the model family's own "
               "chat template, which the model's tokenizer carries)")
    special = r.get("special_tokens") or {}
    for key in ("pad", "eos", "bos"):
        if special.get(f"{key}_token"):
            r.put(f"specialTokens.{key}", special[f"{key}_token"])
    for key in set(special) - {"pad_token", "eos_token", "bos_token"}:
        r.note(f"special_tokens.{key}: not supported: tuneforge sets pad, eos, bos and additional tokens")
    r.copy("tokens", "specialTokens.additional", list)


def _preference(r: Reader, method: str) -> None:
    beta = r.get("rl_beta") or r.get("dpo_beta")
    if beta is not None and method in ("dpo", "orpo", "kto"):
        r.put(f"{method}.beta", beta)
    r.copy("orpo_alpha", "orpo.beta")
    loss = r.get("dpo_loss_type")
    if loss:
        r.put("dpo.lossType", loss[0] if isinstance(loss, list) else loss)
    r.copy("dpo_label_smoothing", "dpo.labelSmoothing")
    r.copy("kto_desirable_weight", "kto.desirableWeight")
    r.copy("kto_undesirable_weight", "kto.undesirableWeight")
    trl = r.get("trl") or {}
    for key, path in (("beta", "grpo.beta"), ("num_generations", "grpo.numGenerations"),
                      ("max_completion_length", "grpo.maxCompletionLength"), ("temperature", "grpo.temperature")):
        if key in trl and method == "grpo":
            r.put(path, trl[key])
    for key in set(trl) - {"beta", "num_generations", "max_completion_length", "temperature"}:
        r.note(f"trl.{key}: not supported: " + ("rewards are chosen by name (grpo.rewards); no code from a config runs"
                                                if key == "reward_funcs" else "no tuneforge field"))
