"""Load the base model the way each method needs it (heavy imports inside functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...api.finetune import FineTuneSpec
from . import speed


def compute_dtype(name: str, cuda: bool):
    import torch

    if name == "auto":
        if not cuda:
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, name)


def quantization_config(spec: FineTuneSpec, cuda: bool):
    """bitsandbytes settings for a 4-bit base (qlora, or a preference method with quantization) or an
    8-bit one (LLM.int8: lora or a preference method)."""
    q = spec.quantization
    if q is None:
        return None
    from transformers import BitsAndBytesConfig

    if q.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=q.quant_type,
        bnb_4bit_use_double_quant=q.double_quant,
        bnb_4bit_compute_dtype=compute_dtype(q.compute_dtype, cuda),
        bnb_4bit_quant_storage=compute_dtype(q.compute_dtype, cuda),
    )


def load(spec: FineTuneSpec, model_dir: Path, cuda: bool) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    trust = spec.model.trust_remote_code
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"trust_remote_code": trust,
                              "attn_implementation": speed.attention(spec.training.attention, cuda)}
    bnb = quantization_config(spec, cuda)
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        kwargs["dtype"] = compute_dtype(spec.quantization.compute_dtype, cuda)
        if cuda:
            import os

            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    return model, tokenizer


def without_kv_cache(model, spec: FineTuneSpec) -> None:
    """Training reads no KV cache, and with one transformers skips the block-diagonal mask it builds
    for packed rows from their position ids: packed sequences would attend to each other
    (tests/backends/test_packing_mask.py). GRPO keeps it: it generates with the model."""
    if spec.method != "grpo":
        model.config.use_cache = False


def with_kv_cache(model) -> None:
    """Before saving a whole model: the cache is what generation wants from its config."""
    model.config.use_cache = True


def lora_config(spec: FineTuneSpec, model=None, new_tokens: list[int] | None = None):
    """peft's LoRA settings. With tokens new to the vocabulary the input and output embeddings train
    beside the adapter (modules_to_save, kept tied where the model ties them): new rows start from the
    mean of the old ones and must learn. (peft's lighter trainable_token_indices wraps a tied head in a
    way TRL 1.16's fused LM-head loss cannot read.)"""
    from peft import LoraConfig

    lora = spec.effective_lora()
    targets = "all-linear" if lora.target_modules == ["all-linear"] else lora.target_modules
    return LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
        use_rslora=lora.use_rslora, use_dora=lora.use_dora, bias=lora.bias, task_type="CAUSAL_LM",
        **(_embeddings_to_train(model) if new_tokens else {}),
    )


def _embeddings_to_train(model) -> dict[str, Any]:
    names = {id(module): name.split(".")[-1] for name, module in model.named_modules()}
    wanted = [names[id(m)] for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None]
    return {"modules_to_save": list(dict.fromkeys(wanted)), "ensure_weight_tying": True}
