"""Packed sequences do not attend to each other: the padding-free batch that packing feeds the model
gives each sequence the same logits as running it alone, with every attention implementation the
CPU offers, once the model is prepared for training as the worker prepares it. Without that (the
model's default KV cache on) transformers skips the block-diagonal mask and the second sequence
sees the first: packing trained on contaminated rows before this test existed."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from support.builders import finetune, spec_of

from tuneforge.backends.finetune import speed
from tuneforge.backends.finetune.models import without_kv_cache
from tuneforge.sources.builtin import materialize_model

pytestmark = pytest.mark.slow
TEXTS = ["The capital of France is Paris.", "Eleven plus forty-seven is fifty-eight, and that is all."]


@pytest.mark.parametrize("setting", ["sdpa", "eager", "auto"])
def test_packed_sequences_keep_to_themselves(setting):
    path = materialize_model("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=speed.attention(setting, cuda=False)).train()
    ids = [tokenizer(t)["input_ids"] for t in TEXTS]
    batch = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)(
        [{"input_ids": i} for i in ids])
    assert "attention_mask" not in batch and batch["input_ids"].shape == (1, len(ids[0]) + len(ids[1]))
    assert batch["position_ids"][0, len(ids[0])] == 0, "the second sequence starts again at position 0"
    with torch.no_grad():
        alone = [model(input_ids=torch.tensor([i])).logits[0] for i in ids]
        leaking = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        without_kv_cache(model, spec_of(finetune("lora").set("spec.training", {"packing": True})))
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
    assert torch.allclose(packed[: len(ids[0])], alone[0], atol=1e-4)
    assert torch.allclose(packed[len(ids[0]):], alone[1], atol=1e-4)
    assert not torch.allclose(leaking[len(ids[0]):], alone[1], atol=1e-2), "the unprepared model leaks across rows"


def test_the_cpu_refuses_gpu_only_kernels_by_name():
    from tuneforge.errors import InputError

    with pytest.raises(InputError, match="training.attention: flash-attention-2 needs an NVIDIA GPU"):
        speed.attention("flash-attention-2", cuda=False)
    with pytest.raises(InputError, match="training.ligerKernels: Liger's kernels run on GPUs"):
        speed.liger("on", cuda=False)
    assert speed.attention("auto", cuda=False) == "sdpa" and speed.liger("auto", cuda=False) is False
