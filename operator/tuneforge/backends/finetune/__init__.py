"""The fine-tuning backend: full, LoRA, QLoRA, DPO."""
