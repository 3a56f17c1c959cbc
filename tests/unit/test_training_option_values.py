"""training.optimizer, maxGradNorm, tf32, lossWatchdog and the 8-bit base: what `tuneforge validate`
says of each mistake, and what the memory estimate makes of them."""

import pytest
from support.builders import finetune

from tuneforge.api.finetune import FineTuneSpec
from tuneforge.api.manifest import parse
from tuneforge.backends.finetune.memory import ModelShape, estimate

SMOL = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
        "num_key_value_heads": 3, "vocab_size": 49152, "tie_word_embeddings": True}


def lines(doc) -> list[str]:
    _, issues = parse(dict(doc))
    return [f"{i.path}: {i.message}" for i in issues]


CASES = [
    (finetune("lora").set("spec.training.optimizer", "adam"), "spec.training.optimizer: Input should be 'adamw_torch', "),
    (finetune("lora").set("spec.training.optimizer", "paged_adamw_8bit"),
     "spec.training.optimizer: paged_adamw_8bit pages optimizer state between GPU and CPU memory, and this job has no GPU "
     "(resources.gpus: 0): use adamw_bnb_8bit, the same without paging"),
    (finetune("full").set("spec.training.optimizer", "adamw_bnb_8bit").set("spec.deepspeed", {"stage": 2}).set("spec.resources.gpus", 2),
     "spec.training.optimizer: adamw_bnb_8bit is a bitsandbytes optimizer; DeepSpeed ZeRO shards and offloads its own "
     "optimizer state: use adamw_torch with deepspeed"),
    (finetune("lora").set("spec.training.tf32", True),
     "spec.training.tf32: TF32 is a mode of NVIDIA GPUs from Ampere on, and this job has no GPU (resources.gpus: 0)"),
    (finetune("lora").set("spec.training.maxGradNorm", -1), "spec.training.maxGradNorm: Input should be greater than or equal to 0"),
    (finetune("lora").set("spec.training.maxGradNorm", "big"), "spec.training.maxGradNorm: Input should be a valid number"),
    (finetune("lora").set("spec.training.lossWatchdog", {}), "spec.training.lossWatchdog.threshold: required field is missing"),
    (finetune("lora").set("spec.training.lossWatchdog", {"threshold": 0}),
     "spec.training.lossWatchdog.threshold: Input should be greater than 0"),
    (finetune("lora").set("spec.training.lossWatchdog", {"threshold": 5, "patience": 0}),
     "spec.training.lossWatchdog.patience: Input should be greater than or equal to 1"),
    (finetune("qlora").set("spec.quantization", {"bits": 8}),
     "spec.quantization: method qlora needs 4-bit settings: add quantization: {bits: 4} (nf4 by default)"),
    (finetune("lora").set("spec.quantization", {"bits": 4}),
     "spec.quantization.bits: LoRA on a 4-bit base is method qlora; method lora takes an 8-bit base (bits: 8)"),
    (finetune("full").set("spec.quantization", {"bits": 8}),
     "spec.quantization: quantization (a 4- or 8-bit base under an adapter) applies to methods qlora, lora (8-bit), "
     "dpo, orpo, kto, grpo, not full"),
    (finetune("lora").set("spec.quantization", {"bits": 8, "quantType": "fp4"}),
     "spec.quantization.quantType: applies to a 4-bit base; an 8-bit base is LLM.int8 (bitsandbytes)"),
    (finetune("dpo").set("spec.quantization", {"bits": 8}).set("spec.adapter", "none"),
     "spec.quantization: a 8-bit base cannot be trained itself: it needs the LoRA adapter (drop adapter: none)"),
    (finetune("lora").set("spec.quantization", {"bits": 6}), "spec.quantization.bits: Input should be 4 or 8"),
    (finetune("lora").set("spec.chatTemplate", "llama-3"),
     "spec.chatTemplate: unknown chat template 'llama-3'; known: tokenizer, chatml, llama3, phi3, zephyr, gemma, mistral, alpaca "
     "(or tokenizer:NAME for one of the model's named templates, or an inline Jinja template)"),
    (finetune("lora").set("spec.dataset", {"uri": "builtin://calibration-mini", "format": "text"}).set("spec.chatTemplate", "chatml"),
     "spec.chatTemplate: a chat template renders conversations; text rows are trained on as they are"),
    (finetune("lora").set("spec.chatTemplate", ""), "spec.chatTemplate: String should have at least 1 character"),
    (finetune("lora").set("spec.specialTokens", {"pad": ""}), "spec.specialTokens.pad: String should have at least 1 character"),
    (finetune("lora").set("spec.specialTokens", {"additional": ["<|a|>", " "]}),
     "spec.specialTokens.additional[1]: empty: a special token has at least one visible character"),
    (finetune("lora").set("spec.specialTokens", {"additional": ["<|a|>", "<|a|>"]}), "spec.specialTokens.additional: <|a|> is listed twice"),
    (finetune("lora").set("spec.specialTokens", {"unk": "<unk>"}), "spec.specialTokens.unk: unknown field"),
]


@pytest.mark.parametrize("doc, expected", CASES, ids=[c[1].split(":")[0] + str(n) for n, c in enumerate(CASES)])
def test_bad_training_option(doc, expected):
    found = lines(doc)
    assert any(line.startswith(expected) for line in found), found


@pytest.mark.parametrize("change", [
    {"spec.training.optimizer": "adamw_bnb_8bit"}, {"spec.training.optimizer": "adafactor"},
    {"spec.training.optimizer": "lion_8bit", "spec.training.maxGradNorm": 0.3},
    {"spec.training.optimizer": "paged_adamw_8bit", "spec.resources.gpus": 1},
    {"spec.training.tf32": True, "spec.resources.gpus": 1},
    {"spec.quantization": {"bits": 8}},
    {"spec.training.lossWatchdog": {"threshold": 4.5, "patience": 2}},
    {"spec.chatTemplate": "llama3", "spec.specialTokens": {"additional": ["<|start_header_id|>"], "pad": "<|pad|>"}},
    {"spec.chatTemplate": "tokenizer:tool_use"},
    {"spec.chatTemplate": "{% for m in messages %}{{ m['content'] }}{% endfor %}"},
])
def test_good_training_options_pass(change):
    doc = finetune("lora")
    for path, value in change.items():
        doc = doc.set(path, value)
    assert lines(doc) == []
    dpo = finetune("dpo").set("spec.quantization", {"bits": 8})
    assert lines(dpo) == []


def test_the_memory_estimate_follows_the_optimizer_and_the_base():
    def est(**changes):
        doc = finetune("full").set("spec.resources.gpus", 1)
        for path, value in changes.items():
            doc = doc.set(path.replace("_", "."), value)
        return estimate(FineTuneSpec.model_validate(doc["spec"]), ModelShape.from_config(SMOL))

    adam, eight = est(), est(spec_training_optimizer="adamw_bnb_8bit")
    assert eight.optimizer < adam.optimizer and adam.optimizer - eight.optimizer == pytest.approx(
        6 * ModelShape.from_config(SMOL).params)  # 8 bytes of AdamW state per parameter become 2
    assert est(spec_training_optimizer="adafactor").optimizer < eight.optimizer
    lora = finetune("lora").set("spec.resources.gpus", 1)
    bf16 = estimate(FineTuneSpec.model_validate(lora["spec"]), ModelShape.from_config(SMOL))
    int8 = estimate(FineTuneSpec.model_validate(lora.set("spec.quantization", {"bits": 8})["spec"]), ModelShape.from_config(SMOL))
    nf4 = estimate(FineTuneSpec.model_validate(finetune("qlora").set("spec.resources.gpus", 1)["spec"]), ModelShape.from_config(SMOL))
    assert nf4.weights < int8.weights < bf16.weights
