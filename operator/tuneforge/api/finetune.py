"""FineTuneJob: full fine-tuning (optionally with DeepSpeed), LoRA, QLoRA, and the preference and
reinforcement methods DPO, ORPO, KTO and GRPO (LoRA by default, 4-bit base or all parameters)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from .base import Model, Optional, Issue
from .common import Output
from .constants import VERSION
from .gates import FineTuneGate
from .preference import DpoSettings, GrpoSettings, KtoSettings, OrpoSettings
from .checkpoints import CheckpointSettings
from .resource import METHOD_COLUMN, PHASE_COLUMN, PROGRESS_COLUMN, JobSpec, Resource
from .sources import DatasetSource, ModelSource
from .tracking import Tracking

FineTuneMethod = Literal["full", "lora", "qlora", "dpo", "orpo", "kto", "grpo"]
SFT_METHODS = ("full", "lora", "qlora")
# Preference and reinforcement methods: a LoRA adapter by default, all parameters with adapter none.
PREFERENCE_METHODS = ("dpo", "orpo", "kto", "grpo")
ADAPTER_METHODS = ("lora", "qlora", *PREFERENCE_METHODS)
# The dataset formats each method reads (kto splits each preference pair into two labelled rows).
METHOD_FORMATS = {
    **{m: ("chat", "instruction", "text") for m in SFT_METHODS},
    "dpo": ("preference",), "orpo": ("preference",), "kto": ("unpaired", "preference"), "grpo": ("verifiable",),
}


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


class FineTuneOutput(Output):
    """Where the adapter or model goes."""

    merge_adapter: bool = False
    """Also write the base model with the adapter merged in, with the tokenizer (adapter methods)."""


class FineTuneSpec(JobSpec):
    """What to fine-tune, on what, and how."""

    method: FineTuneMethod
    """full, lora, qlora (4-bit base + LoRA); dpo, orpo (preference pairs), kto (rows labelled
    desirable or not), grpo (reinforcement with verifiable rewards)."""
    model: ModelSource
    """The base model."""
    dataset: DatasetSource
    """Training data."""
    lora: Optional[LoraSettings] = None
    """Adapter settings for lora, qlora and dpo (defaults: r 16, alpha 32, all-linear)."""
    quantization: Optional[QuantizationSettings] = None
    """4-bit base model settings; required by qlora, optional for dpo, orpo, kto and grpo (QLoRA-style)."""
    dpo: Optional[DpoSettings] = None
    """DPO settings (method dpo)."""
    orpo: Optional[OrpoSettings] = None
    """ORPO settings (method orpo)."""
    kto: Optional[KtoSettings] = None
    """KTO settings (method kto)."""
    grpo: Optional[GrpoSettings] = None
    """GRPO settings and rewards (method grpo)."""
    adapter: Optional[Literal["lora", "none"]] = None
    """dpo, orpo, kto and grpo: lora (the default) trains a LoRA adapter, none trains every parameter.
    lora and qlora always train an adapter; full never does."""
    deepspeed: Optional[DeepSpeedSettings] = None
    """DeepSpeed ZeRO (method full)."""
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    """The training loop."""
    checkpoints: CheckpointSettings = Field(default_factory=CheckpointSettings)
    """Where checkpoints survive the pod, and the pod's grace period to save one when preempted."""
    tracking: Optional[Tracking] = None
    """Experiment tracking (MLflow): parameters, per-step metrics, evaluation and the output URI."""
    gate: Optional[FineTuneGate] = None
    """Thresholds the result must meet before a fromJob consumer may start from it."""
    output: FineTuneOutput = Field(default_factory=FineTuneOutput)
    """Where the adapter or model goes."""

    cel_rules = (
        {"rule": "self.method != 'qlora' || (has(self.quantization) && self.quantization.bits == 4)",
         "message": "method qlora needs 4-bit settings: add quantization: {bits: 4}", "fieldPath": ".quantization"},
        {"rule": "!(self.method in ['dpo', 'orpo']) || self.dataset.format == 'preference'",
         "message": "methods dpo and orpo need a preference dataset (dataset.format: preference)",
         "fieldPath": ".dataset.format"},
        {"rule": "self.method != 'kto' || self.dataset.format in ['unpaired', 'preference']",
         "message": "method kto needs unpaired (prompt/completion/label) or preference data", "fieldPath": ".dataset.format"},
        {"rule": "self.method != 'grpo' || self.dataset.format == 'verifiable'",
         "message": "method grpo needs prompts with reference answers (dataset.format: verifiable)",
         "fieldPath": ".dataset.format"},
    )

    def trains_adapter(self) -> bool:
        return self.method in ("lora", "qlora") or (self.method in PREFERENCE_METHODS and self.adapter != "none")

    def problems(self) -> Iterator[Issue]:
        m, fmt = self.method, self.dataset.format
        yield from self._format_problems(m, fmt)
        yield from self._settings_problems(m)
        yield from self._adapter_problems(m)
        if self.deepspeed is not None and self.trains_adapter():
            yield Issue("deepspeed", f"deepspeed applies to training every parameter (method full, or adapter: none), "
                                     f"not {m} with an adapter (adapter methods use plain data parallelism)")
        if self.deepspeed is not None and self.deepspeed.offload_parameters and self.deepspeed.stage != 3:
            yield Issue("deepspeed.offloadParameters", "parameter offload needs ZeRO stage 3")
        if self.training.assistant_only_loss and fmt != "chat":
            yield Issue("training.assistantOnlyLoss", "assistant-only loss needs chat data")
        if self.training.packing and m not in SFT_METHODS:
            yield Issue("training.packing", f"packing applies to supervised fine-tuning (full, lora, qlora), not {m}")
        if self.training.eval_steps and not (self.dataset.validation_split or self.dataset.validation_fraction):
            yield Issue("training.evalSteps", "evaluation needs dataset.validationSplit or dataset.validationFraction")
        if m == "grpo":
            yield from self._grpo_batch_problems()
        if self.gate is not None:
            yield from self.gate.checked_with(self.training.eval_steps)
        yield from self._device_problems()

    def _format_problems(self, m: str, fmt: str) -> Iterator[Issue]:
        wanted = METHOD_FORMATS[m]
        if fmt in wanted:
            return
        hints = {"preference": "prompt/chosen/rejected", "unpaired": "prompt/completion/label",
                 "verifiable": "prompt/answer"}
        shapes = [f"{w} ({hints[w]})" if w in hints else w for w in wanted]
        shapes_text = shapes[0] if len(shapes) == 1 else f"{', '.join(shapes[:-1])} or {shapes[-1]}"
        users = [k for k, v in METHOD_FORMATS.items() if fmt in v]
        yield Issue("dataset.format", f"method {m} needs {shapes_text} data, got {fmt} (which is for "
                                      f"{'method' if len(users) == 1 else 'methods'} {', '.join(users)})")

    def _settings_problems(self, m: str) -> Iterator[Issue]:
        for block in PREFERENCE_METHODS:
            if m != block and getattr(self, block) is not None:
                yield Issue(block, f"{block} settings apply to method {block}, not {m}")

    def _adapter_problems(self, m: str) -> Iterator[Issue]:
        q = self.quantization
        if self.adapter is not None and m not in PREFERENCE_METHODS:
            meaning = "always trains an adapter" if m != "full" else "trains every parameter (use method lora for an adapter)"
            yield Issue("adapter", f"adapter applies to methods {', '.join(PREFERENCE_METHODS)}; method {m} {meaning}")
        if m == "qlora" and (q is None or q.bits != 4):
            yield Issue("quantization", "method qlora needs 4-bit settings: add quantization: {bits: 4} (nf4 by default)")
        elif q is not None and m not in ("qlora", *PREFERENCE_METHODS):
            yield Issue("quantization", f"quantization (a 4-bit base) applies to methods qlora, "
                                        f"{', '.join(PREFERENCE_METHODS)}, not {m}")
        elif q is not None and m in PREFERENCE_METHODS:
            if self.adapter == "none":
                yield Issue("quantization", "a 4-bit base cannot be trained itself: it needs the LoRA adapter "
                                            "(drop adapter: none)")
            elif q.bits != 4:
                yield Issue("quantization.bits", f"method {m} takes a 4-bit base (QLoRA); an 8-bit base is not supported")
        what = f"method {m}" if m == "full" else f"method {m} with adapter: none"
        if not self.trains_adapter() and self.lora is not None:
            yield Issue("lora", f"lora settings apply to adapter training; {what} trains every parameter")
        if not self.trains_adapter() and self.output.merge_adapter:
            yield Issue("output.mergeAdapter", f"{what} trains the whole model; there is no adapter to merge")

    def _device_problems(self) -> Iterator[Issue]:
        if self.resources.gpus:
            return
        t = self.training
        if t.attention == "flash-attention-2":
            yield Issue("training.attention", "flash-attention-2 runs on NVIDIA GPUs only and this job has no GPU "
                                              "(resources.gpus: 0); sdpa, the default on CPU, is PyTorch's fused attention")
        if t.liger_kernels == "on":
            yield Issue("training.ligerKernels", "Liger's kernels are Triton GPU kernels and this job has no GPU "
                                                 "(resources.gpus: 0); use auto or off")

    def _grpo_batch_problems(self) -> Iterator[Issue]:
        g, t, r = self.grpo or GrpoSettings(), self.training, self.resources
        per_generation = t.batch_size * t.gradient_accumulation_steps * max(r.gpus, 1) * r.nodes
        if per_generation % g.num_generations:
            yield Issue("grpo.numGenerations",
                        f"each step samples training.batchSize x gradientAccumulationSteps x GPUs = {per_generation} "
                        f"completions, which must be a multiple of numGenerations ({g.num_generations}); "
                        f"for example batchSize: {g.num_generations}")

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
        {"name": "Restarts", "type": "integer", "jsonPath": ".status.progress.restarts", "priority": 1},
    ],
):
    """Fine-tunes a model (full, LoRA, QLoRA, DPO, ORPO, KTO or GRPO) as a Kubernetes Job."""

    spec: FineTuneSpec
    """What to fine-tune, on what, and how."""


