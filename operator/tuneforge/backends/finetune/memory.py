"""Estimate the peak GPU memory per device of a fine-tuning spec. Pure arithmetic, no heavy imports.

The estimate is a worst case: every sequence at `training.maxLength`. Components (bytes):

    weights      P_frozen * w + P_trainable * w_train         w: 2 for bf16/fp16 loads, 4 for fp32;
                                                              nf4 linears: 0.5 + 0.0159 (block scales,
                                                              double quantized), embeddings stay 16-bit
    gradients    T * g                                        g = w_train
    optimizer    T * 8 (+ T * 4 fp32 master copy when training 16-bit weights)   AdamW m and v in fp32
    activations  L * B * s * h * k                            k = 34 + 5 * heads * s / h without
                                                              recomputation (Korthikanti et al. 2022),
                                                              k = 2 per layer boundary + one layer's
                                                              full set with gradient checkpointing
    logits       B * s * V * 4 * 2                            fp32 logits and their gradient
    overhead     10% + 0.75 GiB                               CUDA context, allocator fragmentation

ZeRO divides gradients and optimizer state (stage 2) and also weights (stage 3) by the number of
devices; CPU offload removes optimizer state (and parameters) from the GPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ...api.base import Issue
from ...api.finetune import FineTuneSpec

GIB = 1 << 30

# nvidia.com/gpu.product label values (GPU feature discovery) -> memory per device.
KNOWN_GPUS = {
    "H200": 141, "H100": 80, "A100-SXM4-80GB": 80, "A100-PCIE-80GB": 80, "A100-SXM4-40GB": 40,
    "A100-PCIE-40GB": 40, "L40S": 48, "L40": 48, "A10G": 24, "L4": 24, "A10": 24, "T4": 16, "V100-SXM2-32GB": 32,
    "V100-SXM2-16GB": 16,
}


@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        heads = config["num_attention_heads"]
        return cls(
            hidden=config["hidden_size"], layers=config["num_hidden_layers"], heads=heads,
            kv_heads=config.get("num_key_value_heads") or heads, intermediate=config["intermediate_size"],
            vocab=config["vocab_size"], tied=bool(config.get("tie_word_embeddings", False)),
        )

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of every linear layer in one block: q, k, v, o, gate, up, down."""
        h, kv = self.hidden, self.hidden * self.kv_heads // self.heads
        return [(h, h), (h, kv), (h, kv), (h, h), (h, self.intermediate), (h, self.intermediate), (self.intermediate, h)]

    @property
    def linear_params(self) -> int:
        return self.layers * sum(i * o for i, o in self.linear_shapes())

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def params(self) -> int:
        return self.linear_params + self.embedding_params + self.layers * 2 * self.hidden


@dataclass(frozen=True)
class Estimate:
    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    overhead: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits + self.overhead

    def describe(self) -> str:
        parts = ", ".join(f"{k} {getattr(self, k) / GIB:.1f}" for k in ("weights", "gradients", "optimizer", "activations", "logits", "overhead"))
        return f"about {self.total / GIB:.1f} GiB per GPU ({parts} GiB)"


def _needs_reference_copy(spec: FineTuneSpec) -> bool:
    """Training every parameter, DPO and KTO keep a frozen reference copy (an adapter's reference is
    the base with the adapter off); GRPO needs one only with a KL penalty; ORPO never."""
    m = spec.method
    return m in ("dpo", "kto") or (m == "grpo" and spec.grpo is not None and spec.grpo.beta > 0)


# Optimizer state per trainable parameter in bytes (Adafactor keeps factored row and column moments: ~0).
OPTIMIZER_STATE = {"adamw_torch": 8, "adamw_torch_fused": 8, "adamw_bnb_8bit": 2, "paged_adamw_8bit": 2,
                   "paged_adamw_32bit": 8, "adafactor": 0, "lion_32bit": 4, "lion_8bit": 1, "paged_lion_32bit": 4,
                   "paged_lion_8bit": 1, "sgd": 0}


def estimate(spec: FineTuneSpec, shape: ModelShape, on_gpu: bool = True) -> Estimate:
    t = spec.training
    sixteen = t.precision in ("bf16", "fp16") or (t.precision == "auto" and on_gpu)
    w = 2 if sixteen else 4
    devices = max(spec.resources.gpus, 1) * spec.resources.nodes
    full = not spec.trains_adapter()
    if full:
        trainable = shape.params
        weights = shape.params * w
        # Mixed precision keeps an fp32 master copy of 16-bit weights for the optimizer.
        optimizer_per = OPTIMIZER_STATE[t.optimizer] + (4 if sixteen else 0)
        gradients = trainable * w
    else:
        lora = spec.effective_lora()
        trainable = shape.layers * sum(lora.r * (i + o) for i, o in shape.linear_shapes())
        if spec.quantization is not None:
            # 4-bit: half a byte and the blocks' constants; 8-bit (LLM.int8): a byte and a scale per row.
            per = 0.5 + 0.0159 if spec.quantization.bits == 4 else 1.0 + 0.004
            frozen = shape.linear_params * per + shape.embedding_params * 2
        else:
            frozen = (shape.linear_params + shape.embedding_params) * w
        weights = frozen + trainable * 4
        optimizer_per = OPTIMIZER_STATE[t.optimizer]
        gradients = trainable * 4
    optimizer = trainable * optimizer_per
    if full and _needs_reference_copy(spec):
        weights += shape.params * w  # the frozen reference model beside the trained one
    ds = spec.deepspeed
    if full and ds is not None:
        gradients /= devices
        optimizer = 0 if ds.offload_optimizer else optimizer / devices
        if ds.stage == 3:
            weights = 0 if ds.offload_parameters else weights / devices
    b, s = t.batch_size, t.max_length
    checkpointing = t.gradient_checkpointing == "on" or (t.gradient_checkpointing == "auto" and on_gpu)
    per_layer_full = b * s * shape.hidden * (34 + 5 * shape.heads * s / shape.hidden) * (w / 2)
    if checkpointing:
        activations = shape.layers * 2 * b * s * shape.hidden * w + per_layer_full
    else:
        activations = shape.layers * per_layer_full
    logits = b * s * shape.vocab * 4 * 2
    subtotal = weights + gradients + optimizer + activations + logits
    return Estimate(weights, gradients, optimizer, activations, logits, subtotal * 0.10 + 0.75 * GIB)


def parse_quantity(value: str) -> float:
    match = re.fullmatch(r"([0-9.]+)([KMGTP]i?)?", str(value))
    if not match:
        raise ValueError(f"not a memory quantity: {value}")
    number, unit = float(match.group(1)), match.group(2) or ""
    scale = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
             "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50}[unit]
    return number * scale


def gpu_memory(spec: FineTuneSpec) -> float | None:
    """Declared memory per GPU: resources.gpuMemory, else the nodeSelector's known GPU product."""
    if spec.resources.gpu_memory is not None:
        return parse_quantity(str(spec.resources.gpu_memory))
    product = (spec.scheduling.node_selector or {}).get("nvidia.com/gpu.product", "")
    for name, gib in sorted(KNOWN_GPUS.items(), key=lambda kv: -len(kv[0])):
        if name.lower() in product.lower():
            return gib * GIB
    return None


def fit_problem(spec: FineTuneSpec, config: dict[str, Any] | None) -> Issue | None:
    """An issue of `resources` when the estimate exceeds (error) or nears (warning) the declared
    memory; `config` is the model's config.json (None when it cannot be read offline)."""
    if spec.resources.gpus == 0 or config is None:
        return None
    available = gpu_memory(spec)
    if available is None:
        return None
    shape = ModelShape.from_config(config)
    est = estimate(spec, shape)
    if est.total > available:
        return Issue("resources", f"needs {est.describe()}, more than the {available / GIB:.0f} GiB per GPU declared; "
                         "try qlora, a smaller batchSize or maxLength, gradientCheckpointing on, or deepspeed stage 3")
    if est.total > 0.9 * available:
        return Issue("resources", f"needs {est.describe()}, close to the {available / GIB:.0f} GiB per GPU declared", "warning")
    return None
