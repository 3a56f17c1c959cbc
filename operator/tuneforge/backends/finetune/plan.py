"""Pure planning for fine-tuning: spec -> what the worker container needs. No heavy imports."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...api.finetune import FineTuneSpec

WORKER_COMMAND = ("python", "-m", "tuneforge.worker", "--spec", "/etc/tuneforge/spec.json")


@dataclass(frozen=True)
class WorkerPlan:
    """Container-level facts the operator turns into a Job."""

    backend: str
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    gpus: int = 0
    nodes: int = 1
    launcher: str = "python"  # python | torchrun


def plan(spec: FineTuneSpec) -> WorkerPlan:
    env = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1"}
    gpus, nodes = spec.resources.gpus, spec.resources.nodes
    launcher = "torchrun" if gpus > 1 or nodes > 1 else "python"
    if spec.deepspeed is not None:
        env["TUNEFORGE_DEEPSPEED_STAGE"] = str(spec.deepspeed.stage)
    if gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return WorkerPlan("finetune", WORKER_COMMAND, env, gpus, nodes, launcher)
