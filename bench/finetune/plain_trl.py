"""The baseline: the same LoRA fine-tune written directly against TRL, no tuneforge involved.

Settings mirror bench/finetune/job.yaml. Prints one JSON line: steps, train seconds, wall seconds.
"""

import json
import sys
import time

started = time.monotonic()
import datasets  # noqa: E402
import torch  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

model_dir, data_file, steps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
torch.manual_seed(42)
rows = datasets.load_dataset("json", data_files=[data_file], split="train").shuffle(seed=42).select_columns(["messages"])
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
args = SFTConfig(
    output_dir=out, max_steps=steps, learning_rate=1e-3, lr_scheduler_type="cosine", warmup_steps=2,
    per_device_train_batch_size=4, gradient_accumulation_steps=1, max_length=256, seed=42,
    logging_steps=1, save_steps=1000, report_to="none", disable_tqdm=True,
    use_cpu=True, bf16=False, gradient_checkpointing=False,
)
peft = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer, peft_config=peft)
t0 = time.monotonic()
trainer.train()
train_seconds = time.monotonic() - t0
trainer.model.save_pretrained(out + "/adapter")
print(json.dumps({"steps": trainer.state.global_step, "trainSeconds": train_seconds, "wallSeconds": time.monotonic() - started}))
