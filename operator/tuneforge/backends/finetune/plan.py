"""Pure planning for fine-tuning: spec -> what the worker container needs. No heavy imports."""

from __future__ import annotations

from ...api.finetune import FineTuneSpec
from ...contract import RENDEZVOUS_ENV, RENDEZVOUS_PORT, WORKER_COMMAND, WORKER_MODULE
from ..worker_plan import WorkerPlan


def plan(spec: FineTuneSpec) -> WorkerPlan:
    """One process per GPU through torchrun; several nodes form an Indexed Job whose pods meet at a
    static rendezvous on the pod with index 0 (reached through a headless Service), each pod's node
    rank being its completion index, as Kubeflow's PyTorchJob does it."""
    env = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1"}
    gpus, nodes = spec.resources.gpus, spec.resources.nodes
    launcher = "torchrun" if gpus > 1 or nodes > 1 or spec.deepspeed is not None else "python"
    if spec.deepspeed is not None:
        env["TUNEFORGE_DEEPSPEED_STAGE"] = str(spec.deepspeed.stage)
    if gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["DS_ACCELERATOR"] = "cpu"
    command = WORKER_COMMAND
    if launcher == "torchrun":
        host = f"$({RENDEZVOUS_ENV})" if nodes > 1 else None
        command = ("torchrun", *torchrun_args(spec, host), *WORKER_MODULE)
    return WorkerPlan("finetune", command, env, gpus, nodes, launcher)


def deepspeed_config(spec: FineTuneSpec) -> dict | None:
    """The DeepSpeed config for a spec, "auto" where the HF Trainer fills in its own values."""
    ds = spec.deepspeed
    if ds is None:
        return None
    zero: dict = {"stage": ds.stage, "overlap_comm": True, "contiguous_gradients": True}
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if ds.offload_parameters:
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    if ds.stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    precision = spec.training.precision
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"} if precision in ("auto", "bf16") else {"enabled": False},
        "fp16": {"enabled": "auto"} if precision in ("auto", "fp16") else {"enabled": False},
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        # No train_batch_size: DeepSpeed derives it (micro batch x accumulation x world size); the
        # Trainer's "auto" fill-in used a world size of 1 under DeepSpeed's CPU accelerator.
    }


def torchrun_args(spec: FineTuneSpec, rendezvous_host: str | None = None, port: int = RENDEZVOUS_PORT) -> list[str]:
    """torchrun options: one process per GPU; several nodes meet at a static rendezvous.

    On a cluster the rendezvous host is the pod with completion index 0 (its name under the Indexed
    Job's headless Service), and each pod's node rank is its completion index. Static, not c10d: a
    c10d rendezvous hands out node ranks in order of arrival and ignores --node_rank, so global rank 0
    (the one that saves the model and prints the result) could run in any pod, and the pod the
    operator reads the result from (index 0) would have none. The end-to-end test showed exactly that.
    """
    gpus, nodes = max(spec.resources.gpus, 1), spec.resources.nodes
    args = [f"--nproc_per_node={gpus}", f"--nnodes={nodes}"]
    if nodes > 1:
        if rendezvous_host is None:
            raise ValueError("multi-node training needs the rendezvous host")
        args += ["--rdzv_backend=static", f"--master_addr={rendezvous_host}", f"--master_port={port}",
                 "--node_rank=$(JOB_COMPLETION_INDEX)"]
    else:
        args += ["--standalone"]
    return args
