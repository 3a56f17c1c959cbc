"""FineTuneJob: full fine-tuning (optionally with DeepSpeed), LoRA, QLoRA and DPO with LoRA."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from .base import Model, Optional, Issue
from .common import Output
from .constants import VERSION
from .resource import METHOD_COLUMN, PHASE_COLUMN, PROGRESS_COLUMN, JobSpec, Resource
from .sources import DatasetSource, ModelSource

FineTuneMethod = Literal["full", "lora", "qlora", "dpo"]
ADAPTER_METHODS = ("lora", "qlora", "dpo")


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


class DpoSettings(Model):
    """Direct Preference Optimization settings (TRL)."""

    beta: float = Field(default=0.1, gt=0, le=10)
    """Strength of the pull towards the reference model."""
    loss_type: Literal[
        "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
        "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
    ] = "sigmoid"
    """TRL DPO loss (sigmoid is the original DPO)."""
    label_smoothing: float = Field(default=0.0, ge=0, lt=0.5)
    """Assumed label noise (robust and sigmoid losses)."""
    reference: Literal["adapter-disabled", "copy"] = "adapter-disabled"
    """Reference model: the base model with the adapter switched off (no second copy in memory), or a
    separate frozen copy."""


class DeepSpeedSettings(Model):
    """DeepSpeed ZeRO for full fine-tuning across GPUs and nodes."""

    stage: Literal[2, 3] = 2
    """ZeRO stage: 2 shards optimizer state and gradients, 3 also the parameters."""
    offload_optimizer: bool = False
    """Keep optimizer state in CPU memory."""
    offload_parameters: bool = False
    """Keep parameters in CPU memory (stage 3 only)."""


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
    batch_size: int = Field(default=4, ge=1, le=4096)
    """Sequences per device per step."""
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=1024)
    """Micro-batches per optimizer step."""
    max_length: int = Field(default=2048, ge=8, le=1_048_576)
    """Longest sequence in tokens; longer ones are truncated."""
    packing: bool = False
    """Pack several short sequences into each row."""
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


class FineTuneOutput(Output):
    """Where the adapter or model goes."""

    merge_adapter: bool = False
    """Also write the base model with the adapter merged in, with the tokenizer (adapter methods)."""


class FineTuneSpec(JobSpec):
    """What to fine-tune, on what, and how."""

    method: FineTuneMethod
    """full, lora, qlora (4-bit base + LoRA) or dpo (preference tuning with LoRA)."""
    model: ModelSource
    """The base model."""
    dataset: DatasetSource
    """Training data."""
    lora: Optional[LoraSettings] = None
    """Adapter settings for lora, qlora and dpo (defaults: r 16, alpha 32, all-linear)."""
    quantization: Optional[QuantizationSettings] = None
    """4-bit base model settings; required by qlora."""
    dpo: Optional[DpoSettings] = None
    """DPO settings (method dpo)."""
    deepspeed: Optional[DeepSpeedSettings] = None
    """DeepSpeed ZeRO (method full)."""
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    """The training loop."""
    output: FineTuneOutput = Field(default_factory=FineTuneOutput)
    """Where the adapter or model goes."""

    cel_rules = (
        {"rule": "self.method != 'qlora' || (has(self.quantization) && self.quantization.bits == 4)",
         "message": "method qlora needs 4-bit settings: add quantization: {bits: 4}", "fieldPath": ".quantization"},
        {"rule": "self.method != 'dpo' || self.dataset.format == 'preference'",
         "message": "method dpo needs a preference dataset (dataset.format: preference)", "fieldPath": ".dataset.format"},
    )

    def problems(self) -> Iterator[Issue]:
        m = self.method
        if m == "qlora" and (self.quantization is None or self.quantization.bits != 4):
            yield Issue("quantization", "method qlora needs 4-bit settings: add quantization: {bits: 4} (nf4 by default)")
        if m != "qlora" and self.quantization is not None:
            yield Issue("quantization", f"quantization applies to method qlora, not {m}")
        if m == "dpo" and self.dataset.format != "preference":
            yield Issue("dataset.format", f"method dpo needs a preference dataset (prompt/chosen/rejected), got {self.dataset.format}")
        if m != "dpo" and self.dataset.format == "preference":
            yield Issue("dataset.format", f"preference data is for method dpo; method {m} needs chat, instruction or text")
        if m != "dpo" and self.dpo is not None:
            yield Issue("dpo", f"dpo settings apply to method dpo, not {m}")
        if m not in ADAPTER_METHODS and self.lora is not None:
            yield Issue("lora", f"lora settings apply to methods {', '.join(ADAPTER_METHODS)}, not {m}")
        if m != "full" and self.deepspeed is not None:
            yield Issue("deepspeed", f"deepspeed applies to method full, not {m} (adapter methods use plain data parallelism)")
        if self.deepspeed is not None and self.deepspeed.offload_parameters and self.deepspeed.stage != 3:
            yield Issue("deepspeed.offloadParameters", "parameter offload needs ZeRO stage 3")
        if m not in ADAPTER_METHODS and self.output.merge_adapter:
            yield Issue("output.mergeAdapter", f"method {m} trains the whole model; there is no adapter to merge")
        if self.training.assistant_only_loss and self.dataset.format != "chat":
            yield Issue("training.assistantOnlyLoss", "assistant-only loss needs chat data")
        if self.training.eval_steps and not (self.dataset.validation_split or self.dataset.validation_fraction):
            yield Issue("training.evalSteps", "evaluation needs dataset.validationSplit or dataset.validationFraction")

    def effective_lora(self) -> LoraSettings:
        return self.lora or LoraSettings()


class FineTuneJob(
    Resource,
    version=VERSION,
    kind="FineTuneJob",
    singular_name="finetunejob",
    plural_name="finetunejobs",
    short_names=["ftj"],
    subresources={"status": {}},
    printer_columns=[
        METHOD_COLUMN,
        {"name": "Model", "type": "string", "jsonPath": ".spec.model.uri", "priority": 1},
        PHASE_COLUMN,
        PROGRESS_COLUMN,
        {"name": "Loss", "type": "number", "jsonPath": ".status.progress.loss"},
        {"name": "ETA", "type": "string", "jsonPath": ".status.progress.eta"},
    ],
):
    """Fine-tunes a model (full, LoRA, QLoRA or DPO) as a Kubernetes Job."""

    spec: FineTuneSpec
    """What to fine-tune, on what, and how."""


