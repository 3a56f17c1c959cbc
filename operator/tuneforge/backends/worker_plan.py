"""What a backend's pure `plan` returns: the container-level facts the operator turns into a Job."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..contract import WORKER_COMMAND


@dataclass(frozen=True)
class WorkerPlan:
    backend: str
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    gpus: int = 0
    nodes: int = 1
    launcher: str = "python"  # python | torchrun


def default_plan(backend: str, gpus: int) -> WorkerPlan:
    """One process, GPUs as the spec asks: what every backend without its own plan needs."""
    env = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1"}
    if gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return WorkerPlan(backend, WORKER_COMMAND, env, gpus, 1, "python")
