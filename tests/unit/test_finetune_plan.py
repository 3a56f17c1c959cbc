"""The pure fine-tuning plan: launcher, torchrun options, DeepSpeed config."""

from support.builders import finetune, spec_of

from tuneforge.api.manifest import parse
from tuneforge.backends import backend_for
from tuneforge.backends.finetune.plan import WORKER_COMMAND, deepspeed_config, plan



def test_single_cpu_process():
    p = plan(spec_of(finetune("lora")))
    assert (p.command, p.launcher, p.gpus, p.nodes) == (WORKER_COMMAND, "python", 0, 1)
    assert p.env["CUDA_VISIBLE_DEVICES"] == "" and p.env["DS_ACCELERATOR"] == "cpu"


def test_one_gpu_runs_plain_python():
    p = plan(spec_of(finetune("qlora").set("spec.resources", {"gpus": 1})))
    assert p.command == WORKER_COMMAND and "CUDA_VISIBLE_DEVICES" not in p.env


def test_several_gpus_use_torchrun_standalone():
    p = plan(spec_of(finetune("lora").set("spec.resources", {"gpus": 4})))
    assert p.command == ("torchrun", "--nproc_per_node=4", "--nnodes=1", "--standalone",
                         "-m", "tuneforge.worker", "--spec", "/etc/tuneforge/spec.json")


def test_several_nodes_meet_at_a_static_rendezvous_on_index_zero_so_node_rank_is_the_index():
    doc = finetune("full").set("spec.resources", {"gpus": 8, "nodes": 2}).set("spec.deepspeed", {"stage": 3})
    p = plan(spec_of(doc))
    assert p.command == ("torchrun", "--nproc_per_node=8", "--nnodes=2", "--rdzv_backend=static",
                         "--master_addr=$(TUNEFORGE_RENDEZVOUS_HOST)", "--master_port=29500", "--node_rank=$(JOB_COMPLETION_INDEX)",
                         "-m", "tuneforge.worker", "--spec", "/etc/tuneforge/spec.json")
    assert (p.launcher, p.gpus, p.nodes) == ("torchrun", 8, 2)
    assert p.env["TUNEFORGE_DEEPSPEED_STAGE"] == "3"


def test_deepspeed_runs_under_torchrun_even_on_one_device():
    p = plan(spec_of(finetune("full").set("spec.deepspeed", {"stage": 2})))
    assert p.launcher == "torchrun" and "--nproc_per_node=1" in p.command


def test_deepspeed_config_from_spec():
    doc = finetune("full").set("spec.deepspeed", {"stage": 3, "offloadOptimizer": True, "offloadParameters": True})
    doc["spec"]["training"] = {"precision": "bf16"}
    cfg = deepspeed_config(spec_of(doc))
    assert cfg["zero_optimization"]["stage"] == 3
    assert cfg["zero_optimization"]["offload_optimizer"] == {"device": "cpu", "pin_memory": True}
    assert cfg["zero_optimization"]["offload_param"] == {"device": "cpu", "pin_memory": True}
    assert cfg["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert cfg["bf16"] == {"enabled": "auto"} and cfg["fp16"] == {"enabled": False}
    assert "train_batch_size" not in cfg
    assert deepspeed_config(spec_of(finetune("lora"))) is None


def test_registry_routes_every_kind():
    assert backend_for(parse(dict(finetune("qlora")))[0]).name == "finetune"


def test_only_a_quantized_base_or_a_bitsandbytes_optimizer_loads_bitsandbytes():
    import importlib.util
    import sys

    from tuneforge.backends.finetune.run import _without_bitsandbytes

    needs = [finetune("qlora"), finetune("lora").set("spec.quantization", {"bits": 8}),
             finetune("lora").set("spec.training.optimizer", "adamw_bnb_8bit")]
    plain = spec_of(finetune("lora"))
    before = sys.modules.pop("bitsandbytes", "absent")
    try:
        for doc in needs:
            assert spec_of(doc).uses_bitsandbytes()
            _without_bitsandbytes(spec_of(doc))
            assert "bitsandbytes" not in sys.modules
        assert not plain.uses_bitsandbytes()
        _without_bitsandbytes(plain)
        assert sys.modules["bitsandbytes"] is None and importlib.util.find_spec("bitsandbytes") is None
    finally:  # later tests in this process import it for real
        sys.modules.pop("bitsandbytes", None)
        if before != "absent":
            sys.modules["bitsandbytes"] = before
