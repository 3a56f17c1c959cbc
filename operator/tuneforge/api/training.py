"""The settings blocks of a FineTuneJob: the LoRA adapter, the quantized base, DeepSpeed and the
training loop."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Model, Optional


class LoraSettings(Model):
    """LoRA adapter settings (peft)."""

    r: int = Field(default=16, ge=1, le=1024)
    """Rank of the update matrices."""
    alpha: int = Field(default=32, ge=1)
    """Scaling numerator: the update is scaled by alpha / r (alpha / sqrt(r) with rsLora)."""
    dropout: float = Field(default=0.05, ge=0, lt=1)
    """Dropout on the adapter input."""
    target_modules: list[str] = Field(default_factory=lambda: ["all-linear"], min_length=1)
    """Module names to adapt, or `all-linear` for every linear layer except the output head."""
    use_rslora: bool = False
    """Rank-stabilised scaling (alpha / sqrt(r))."""
    use_dora: bool = False
    """Weight-decomposed LoRA (DoRA)."""
    bias: Literal["none", "all", "lora_only"] = "none"
    """Which biases to train."""


class QuantizationSettings(Model):
    """bitsandbytes quantization of the frozen base model (QLoRA)."""

    bits: Literal[4, 8] = 4
    """Bits per weight of the frozen base model; QLoRA uses 4."""
    quant_type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type."""
    double_quant: bool = True
    """Quantize the quantization constants too (saves about 0.4 bits per weight)."""
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """Dtype of the matmuls: auto picks bfloat16 where the GPU supports it, else float16 (float32 on CPU)."""


class DeepSpeedSettings(Model):
    """DeepSpeed ZeRO for full fine-tuning across GPUs and nodes."""

    stage: Literal[2, 3] = 2
    """ZeRO stage: 2 shards optimizer state and gradients, 3 also the parameters."""
    offload_optimizer: bool = False
    """Keep optimizer state in CPU memory."""
    offload_parameters: bool = False
    """Keep parameters in CPU memory (stage 3 only)."""


# transformers' names (what Axolotl's and LLaMA-Factory's `optim` take): torch's AdamW (fused: one
# kernel for every parameter), bitsandbytes' 8-bit and paged AdamW and Lion, Adafactor, SGD.
Optimizer = Literal["adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "paged_adamw_8bit", "paged_adamw_32bit",
                    "adafactor", "lion_32bit", "lion_8bit", "paged_lion_32bit", "paged_lion_8bit", "sgd"]
BNB_OPTIMIZERS = ("adamw_bnb_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "lion_32bit", "lion_8bit",
                  "paged_lion_32bit", "paged_lion_8bit")


class LossWatchdog(Model):
    """Stop a run whose training loss blows up, instead of spending the GPU hours and saving a broken
    model: the job fails naming the step and the loss, and the newest checkpoint is one written while
    the loss was still below the threshold."""

    threshold: float = Field(gt=0)
    """A logged training loss above this (or not a number) counts as a strike."""
    patience: int = Field(default=3, ge=1, le=1000)
    """Strikes in a row (logged steps) that stop the run."""


class TrainingSettings(Model):
    """The training loop."""

    epochs: float = Field(default=1.0, gt=0, le=1000)
    """Passes over the dataset; ignored when maxSteps is set."""
    max_steps: Optional[int] = Field(default=None, ge=1)
    """Stop after this many optimizer steps."""
    learning_rate: float = Field(default=2.0e-4, gt=0, lt=1)
    """Peak learning rate."""
    lr_scheduler: Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt"] = "cosine"
    """Learning rate schedule after warm-up."""
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    """Fraction of the steps spent warming up."""
    warmup_steps: int = Field(default=0, ge=0)
    """Warm-up steps (takes precedence over warmupRatio)."""
    weight_decay: float = Field(default=0.0, ge=0, lt=1)
    """AdamW weight decay."""
    optimizer: Optimizer = "adamw_torch"
    """adamw_torch, adamw_torch_fused, adamw_bnb_8bit (8-bit state, bitsandbytes), paged_adamw_8bit and
    paged_adamw_32bit (state paged out of GPU memory under pressure: GPUs only), adafactor, lion_32bit,
    lion_8bit, paged_lion_32bit, paged_lion_8bit, sgd."""
    max_grad_norm: float = Field(default=1.0, ge=0, le=1.0e6)
    """Clip the gradients' global norm to this before each optimizer step; 0 turns clipping off."""
    tf32: Optional[bool] = None
    """TF32 matmuls on NVIDIA GPUs from Ampere on (faster fp32 with a 10-bit mantissa); unset leaves
    PyTorch's default. Needs a GPU."""
    loss_watchdog: Optional[LossWatchdog] = None
    """Stop and fail when the training loss stays above a threshold (a run that diverged)."""
    batch_size: int = Field(default=4, ge=1, le=4096)
    """Sequences per device per step."""
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=1024)
    """Micro-batches per optimizer step."""
    max_length: int = Field(default=2048, ge=8, le=1_048_576)
    """Longest sequence in tokens; longer ones are truncated."""
    packing: bool = False
    """Pack several short sequences into each row (best-fit decreasing); each keeps its own
    positions, and attention does not cross from one sequence into the next."""
    attention: Literal["auto", "sdpa", "eager", "flash-attention-2"] = "auto"
    """Attention kernel: auto picks flash-attention-2 on a GPU whose image has the flash-attn package,
    else sdpa (PyTorch's fused attention); eager is the plain reference implementation."""
    liger_kernels: Literal["auto", "on", "off"] = "auto"
    """Liger's fused Triton kernels (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy): less memory and
    more tokens/s on GPUs; auto turns them on where a GPU and the liger-kernel package are present."""
    assistant_only_loss: bool = False
    """Train only on assistant turns (chat format; needs a chat template that marks them)."""
    seed: int = Field(default=42, ge=0)
    """Seed for shuffling and initialisation."""
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """auto: bf16 on GPUs that support it, fp16 on older GPUs, fp32 on CPU."""
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    """Recompute activations to save memory; auto turns it on for GPUs and off on CPU."""
    logging_steps: int = Field(default=1, ge=1)
    """Report loss every N steps."""
    eval_steps: Optional[int] = Field(default=None, ge=1)
    """Evaluate on the validation rows every N steps."""
    save_steps: int = Field(default=100, ge=1)
    """Write a checkpoint every N steps; a restarted pod resumes from the latest."""
    save_total_limit: int = Field(default=2, ge=1)
    """Checkpoints kept."""
