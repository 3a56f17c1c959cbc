"""Pure planning for GGUF: which files a QuantizeJob writes and which llama.cpp file type makes each."""

from __future__ import annotations

from dataclasses import dataclass

from ...api.quantize import GGUF_NEEDS_IMATRIX, GgufSettings, QuantizeSpec
from ..worker_plan import WorkerPlan, default_plan

UNQUANTIZED = ("f32", "f16", "bf16")
IMATRIX_FILE = "imatrix.gguf"


@dataclass(frozen=True)
class Target:
    type: str
    file: str

    @property
    def ftype(self) -> str:
        """The name of llama.cpp's `llama_ftype` constant, resolved against llama_cpp at run time."""
        if self.type == "f32":
            return "LLAMA_FTYPE_ALL_F32"
        return f"LLAMA_FTYPE_MOSTLY_{self.type.upper()}"


def plan(spec: QuantizeSpec) -> WorkerPlan:
    return default_plan("gguf", spec.resources.gpus)


def targets(settings: GgufSettings, stem: str) -> list[Target]:
    return [Target(t, f"{stem}-{t}.gguf") for t in settings.types]


def base_type(torch_dtype: str | None) -> str:
    """The unquantized file every type is made from: bf16 for bf16 models (f16 could overflow), else f16."""
    return "bf16" if torch_dtype == "bfloat16" else "f16"


def needs_imatrix(settings: GgufSettings) -> bool:
    """Compute or load an importance matrix: when asked for, and always for the types that require one."""
    return settings.imatrix is not None or any(t in GGUF_NEEDS_IMATRIX for t in settings.types)
