"""The TRL trainer for each method, and the arguments only that method takes.

SFT (full, lora, qlora), DPO, KTO and GRPO use TRL 1.16's stable trainers; ORPO is among the
trainers TRL 1.16 keeps under trl.experimental (ORPOTrainer), pinned with TRL in constraints/main.txt.
"""

from __future__ import annotations

from typing import Any

from ...api.preference import DpoSettings, GrpoSettings, KtoSettings, OrpoSettings
from .models import lora_config
from .rewards import trl_reward_functions


def method_args(spec) -> dict[str, Any]:
    """The method's own settings as TRL config arguments (added to the shared TrainingArguments)."""
    t, m = spec.training, spec.method
    if m == "dpo":
        dpo = spec.dpo or DpoSettings()
        return dict(max_length=t.max_length, beta=dpo.beta, loss_type=[dpo.loss_type], label_smoothing=dpo.label_smoothing)
    if m == "orpo":
        return dict(max_length=t.max_length, beta=(spec.orpo or OrpoSettings()).beta)
    if m == "kto":
        kto = spec.kto or KtoSettings()
        return dict(max_length=t.max_length, beta=kto.beta, desirable_weight=kto.desirable_weight,
                    undesirable_weight=kto.undesirable_weight, loss_type=kto.loss_type)
    if m == "grpo":
        g = spec.grpo or GrpoSettings()
        # GRPO's batches carry prompts, not input_ids: transformers cannot count tokens and warns every step.
        return dict(num_generations=g.num_generations, max_completion_length=g.max_completion_length, beta=g.beta,
                    temperature=g.temperature, reward_weights=[r.weight for r in g.rewards], log_completions=False,
                    include_num_input_tokens_seen="no")
    # Best-fit-decreasing packing is padding-free: each sequence keeps its own position ids, from
    # which transformers builds a block-diagonal mask (tests/backends/test_packing_mask.py).
    return dict(max_length=t.max_length, packing=t.packing, packing_strategy="bfd",
                assistant_only_loss=t.assistant_only_loss)


def build(spec, model, tokenizer, train_rows, eval_rows, args: dict[str, Any], new_tokens: list[int], callbacks):
    """The method's trainer; with `new_tokens` (ids added to the vocabulary) the embeddings train beside
    a LoRA adapter."""
    import trl

    peft = lora_config(spec, model, new_tokens) if spec.trains_adapter() else None
    common = dict(train_dataset=train_rows, eval_dataset=eval_rows, processing_class=tokenizer, peft_config=peft,
                  callbacks=callbacks)
    m = spec.method
    if m == "dpo":
        ref = None
        if (spec.dpo or DpoSettings()).reference == "copy":
            from transformers import AutoModelForCausalLM

            ref = AutoModelForCausalLM.from_pretrained(model.name_or_path)
            _same_vocabulary(ref, model)
        return trl.DPOTrainer(model=model, ref_model=ref, args=trl.DPOConfig(**args), **common)
    if m == "orpo":
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        return ORPOTrainer(model=model, args=ORPOConfig(**args), **common)
    if m == "kto":
        return trl.KTOTrainer(model=model, args=trl.KTOConfig(**args), **common)
    if m == "grpo":
        functions, _weights = trl_reward_functions((spec.grpo or GrpoSettings()).rewards)
        return trl.GRPOTrainer(model=model, reward_funcs=functions, args=trl.GRPOConfig(**args), **common)
    return trl.SFTTrainer(model=model, args=trl.SFTConfig(**args), **common)


def _same_vocabulary(ref, model) -> None:
    """The reference copy with the tokens specialTokens added, their rows as the policy starts with."""
    import torch

    old, size = ref.get_input_embeddings().num_embeddings, model.get_input_embeddings().num_embeddings
    if size == old:
        return
    ref.resize_token_embeddings(size)
    with torch.no_grad():
        for get in ("get_input_embeddings", "get_output_embeddings"):
            mine, theirs = getattr(ref, get)(), getattr(model, get)()
            if mine is not None and theirs is not None:
                mine.weight[old:] = theirs.weight[old:]


def prepare_rows(spec, train_rows, eval_rows):
    """KTO on preference data: each pair becomes a desirable and an undesirable row (TRL's own split),
    shuffled again so that batches mix both (the split lists every desirable row first)."""
    if spec.method != "kto" or spec.data_format() != "preference":
        return train_rows, eval_rows
    from trl.data_utils import unpair_preference_dataset

    seed = spec.training.seed
    return tuple(None if rows is None else unpair_preference_dataset(rows).shuffle(seed=seed)
                 for rows in (train_rows, eval_rows))
