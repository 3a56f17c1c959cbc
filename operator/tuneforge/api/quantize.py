"""QuantizeJob: GGUF (llama.cpp), AWQ and GPTQ (llm-compressor or AutoAWQ), EXL2 and EXL3."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Literal

from pydantic import Field, field_validator

from .base import Model, Optional, Issue
from .constants import VERSION
from .gates import QuantizeGate
from .resource import METHOD_COLUMN, PHASE_COLUMN, PROGRESS_COLUMN, JobSpec, Resource
from .sources import DatasetSource, ModelSource

QuantizeMethod = Literal["gguf", "awq", "gptq", "exl2", "exl3"]

# llama.cpp's quantization type names, lower case (as llama-quantize accepts them).
GGUF_TYPES = (
    "f32", "f16", "bf16", "q8_0",
    "q6_k", "q5_k_m", "q5_k_s", "q5_1", "q5_0",
    "q4_k_m", "q4_k_s", "q4_1", "q4_0",
    "q3_k_l", "q3_k_m", "q3_k_s", "q2_k", "q2_k_s",
    "iq4_nl", "iq4_xs", "iq3_m", "iq3_s", "iq3_xs", "iq3_xxs",
    "iq2_m", "iq2_s", "iq2_xs", "iq2_xxs", "iq1_m", "iq1_s",
    "tq1_0", "tq2_0",
)
# llama.cpp (0.3.36's) refuses these without an importance matrix: too much quality is lost
# otherwise. Measured, not assumed: tests/backends/test_gguf.py asks llama.cpp about every type
# without one (its dry run) and has it refuse each of these.
GGUF_NEEDS_IMATRIX = ("iq2_xxs", "iq2_xs", "iq2_s", "iq2_m", "iq1_s", "iq1_m", "q2_k_s")


def _calibration() -> DatasetSource:
    return DatasetSource(uri="builtin://calibration-mini", format="text")


class ImatrixSettings(Model):
    """Importance matrix: activation statistics that tell the quantizer which weights matter most."""

    dataset: DatasetSource = Field(default_factory=_calibration)
    """Text to run through the model (format text)."""
    chunks: int = Field(default=64, ge=1, le=100_000)
    """Number of chunks of contextLength tokens to process."""
    context_length: int = Field(default=512, ge=16, le=131_072)
    """Tokens per chunk."""
    uri: Optional[str] = None
    """Reuse an existing imatrix file instead of computing one (e.g. from an earlier job's output)."""


class GgufSettings(Model):
    """llama.cpp GGUF conversion and quantization."""

    types: list[str] = Field(default_factory=lambda: ["q4_k_m"], min_length=1)
    """Quantization types, lower case: q2_k ... q8_0, the iq types, f16, bf16. One file per type."""
    imatrix: Optional[ImatrixSettings] = None
    """Compute (or reuse) an importance matrix once and use it for every type. Required by iq1/iq2 types."""

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        wrong = [t for t in types if t not in GGUF_TYPES]
        if wrong:
            hints = []
            for t in wrong:
                close = difflib.get_close_matches(t.lower().replace("-", "_"), GGUF_TYPES, n=1, cutoff=0.6)
                hints.append(f"'{t}'" + (f" (did you mean {close[0]}?)" if close else ""))
            raise ValueError(f"unknown GGUF type {', '.join(hints)}; known types: {', '.join(GGUF_TYPES)}")
        if len(set(types)) != len(types):
            raise ValueError("each type may appear once")
        return types

    def problems(self) -> Iterator[Issue]:
        if self.imatrix is None:
            needing = [t for t in self.types if t in GGUF_NEEDS_IMATRIX]
            if needing:
                yield Issue("imatrix", f"{', '.join(needing)} need an importance matrix: add imatrix: {{}} (computed from builtin://calibration-mini by default)")


class AwqSettings(Model):
    """Activation-aware weight quantization."""

    engine: Literal["llm-compressor", "autoawq"] = "llm-compressor"
    """llm-compressor (maintained; compressed-tensors format for vLLM and transformers) or autoawq (legacy GEMM/GEMV format)."""
    bits: Literal[4] = 4
    """Bits per weight."""
    group_size: int = Field(default=128, ge=-1)
    """Weights sharing one scale; -1 for per-channel. Must divide the model's hidden sizes."""
    symmetric: bool = False
    """Symmetric quantization (no zero point)."""
    dataset: DatasetSource = Field(default_factory=_calibration)
    """Calibration text."""
    num_samples: int = Field(default=128, ge=1, le=100_000)
    """Calibration samples."""
    max_sequence_length: int = Field(default=512, ge=16)
    """Tokens per calibration sample."""
    ignore: list[str] = Field(default_factory=lambda: ["lm_head"])
    """Modules left unquantized."""
    version: Literal["gemm", "gemv"] = "gemm"
    """Kernel layout for the autoawq engine."""


class GptqSettings(Model):
    """GPTQ through llm-compressor."""

    bits: Literal[4, 8] = 4
    """Bits per weight."""
    group_size: int = Field(default=128, ge=-1)
    """Weights sharing one scale; -1 for per-channel."""
    dampening_fraction: float = Field(default=0.01, gt=0, lt=1)
    """Hessian dampening."""
    dataset: DatasetSource = Field(default_factory=_calibration)
    """Calibration text."""
    num_samples: int = Field(default=128, ge=1, le=100_000)
    """Calibration samples."""
    max_sequence_length: int = Field(default=512, ge=16)
    """Tokens per calibration sample."""
    ignore: list[str] = Field(default_factory=lambda: ["lm_head"])
    """Modules left unquantized."""


class ExlSettings(Model):
    """ExLlamaV2 (EXL2) or ExLlamaV3 (EXL3) conversion."""

    bits_per_weight: list[float] = Field(default_factory=lambda: [4.0], min_length=1)
    """Target average bits per weight; one output per value, sharing one measurement pass."""
    head_bits: Literal[6, 8] = 6
    """Bits of the output head."""
    dataset: DatasetSource = Field(default_factory=_calibration)
    """Calibration text."""
    calibration_rows: int = Field(default=100, ge=1)
    """Calibration rows."""
    calibration_length: int = Field(default=2048, ge=16)
    """Tokens per calibration row."""

    @field_validator("bits_per_weight")
    @classmethod
    def _in_range(cls, values: list[float]) -> list[float]:
        bad = [v for v in values if not 2.0 <= v <= 8.0]
        if bad:
            raise ValueError(f"{', '.join(map(str, bad))} out of range: bits per weight must be between 2.0 and 8.0")
        return values


class Evaluation(Model):
    """Quality report: perplexity, top-1 agreement and KL divergence against the unquantized model."""

    enabled: bool = True
    """Measure each output."""
    dataset: DatasetSource = Field(default_factory=_calibration)
    """Held-out text for the measurement."""
    max_tokens: int = Field(default=4096, ge=64)
    """Tokens evaluated per output."""


SETTINGS_TYPES: dict[str, type[Model]] = {
    "gguf": GgufSettings, "awq": AwqSettings, "gptq": GptqSettings, "exl2": ExlSettings, "exl3": ExlSettings,
}


class QuantizeSpec(JobSpec):
    """What to quantize and to which formats."""

    method: QuantizeMethod
    """gguf, awq, gptq, exl2 or exl3."""
    model: ModelSource
    """The model to quantize (HF safetensors)."""
    gguf: Optional[GgufSettings] = None
    """Settings for method gguf (default: q4_k_m)."""
    awq: Optional[AwqSettings] = None
    """Settings for method awq."""
    gptq: Optional[GptqSettings] = None
    """Settings for method gptq."""
    exl2: Optional[ExlSettings] = None
    """Settings for method exl2."""
    exl3: Optional[ExlSettings] = None
    """Settings for method exl3."""
    evaluation: Evaluation = Field(default_factory=Evaluation)
    """Quality measurement of each output."""
    gate: Optional[QuantizeGate] = None
    """Thresholds every output must meet (from the evaluation) before a fromJob consumer may start from it."""

    def problems(self) -> Iterator[Issue]:
        for name in SETTINGS_TYPES:
            if name != self.method and getattr(self, name) is not None:
                yield Issue(name, f"{name} settings apply to method {name}, not {self.method}")
        if self.method in ("exl2", "exl3") and self.resources.gpus == 0:
            yield Issue("resources.gpus", f"method {self.method} needs a CUDA GPU: set resources.gpus")
        if self.gate is not None:
            written = self.settings().types if self.method == "gguf" else None
            yield from self.gate.checked_with(self.evaluation.enabled, written)

    def settings(self) -> Model:
        found = getattr(self, self.method)
        if found is not None:
            return found
        return SETTINGS_TYPES[self.method]()


class QuantizeJob(
    Resource,
    version=VERSION,
    kind="QuantizeJob",
    singular_name="quantizejob",
    plural_name="quantizejobs",
    short_names=["qj"],
    subresources={"status": {}},
    printer_columns=[
        METHOD_COLUMN,
        PHASE_COLUMN,
        PROGRESS_COLUMN,
    ],
):
    """Quantizes a model to GGUF, AWQ, GPTQ, EXL2 or EXL3 as a Kubernetes Job."""

    spec: QuantizeSpec
    """What to quantize and to which formats."""
