"""Unsloth's LoRA on the same model, data, batch and steps as tests/gpu/finetune.py's lora case; prints
one JSON row for its table. Run by finetune.py when the unsloth package is installed.

    python3 tests/gpu/unsloth_lora.py MODEL_URI STEPS
"""

from __future__ import annotations

import json
import sys
import time


def main(model_uri: str, steps: int) -> None:
    from unsloth import FastLanguageModel  # first: it patches transformers and TRL on import

    import torch
    from trl import SFTConfig, SFTTrainer

    from tuneforge.api.sources import DatasetSource, ModelSource
    from tuneforge.backends.common.rows import load_rows
    from tuneforge.sources import resolve_dataset, resolve_model

    path = resolve_model(ModelSource(uri=model_uri))
    model, tokenizer = FastLanguageModel.from_pretrained(str(path), max_seq_length=512, load_in_4bit=False)
    model = FastLanguageModel.get_peft_model(model, r=16, lora_alpha=32, lora_dropout=0.0,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"])
    source = DatasetSource(uri="builtin://chat-mini", format="chat")
    rows = load_rows(resolve_dataset(source), "chat", source.uri, seed=42)
    args = SFTConfig(output_dir="/tmp/unsloth-out", max_steps=steps, per_device_train_batch_size=8, learning_rate=1e-3,
                     max_length=512, logging_steps=1, report_to="none", save_strategy="no", bf16=True,
                     include_num_input_tokens_seen="all")
    trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer)
    torch.cuda.reset_peak_memory_stats()
    started = time.monotonic()
    trainer.train()
    seconds = time.monotonic() - started
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(json.dumps({"method": "unsloth-lora", "gpu": torch.cuda.get_device_name(), "steps": trainer.state.global_step,
                      "trainSeconds": round(seconds, 1),
                      "tokensPerSecond": round(trainer.state.num_input_tokens_seen / seconds, 1),
                      "peakVRAMGiB": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                      "loss": f"{losses[0]:.3f} -> {losses[-1]:.3f}", "distributed": "NO", "linear4bit": None,
                      "learned": losses[-1] < losses[0], "attention": "unsloth", "liger": False}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
