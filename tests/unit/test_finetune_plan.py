from builders import finetune

from tuneforge.api.manifest import parse
from tuneforge.backends import backend_for
from tuneforge.backends.finetune.plan import WORKER_COMMAND, plan


def resource(doc):
    res, issues = parse(dict(doc))
    assert not issues, issues
    return res


def test_cpu_plan():
    p = plan(resource(finetune("lora")).spec)
    assert p.command == WORKER_COMMAND and p.launcher == "python" and p.gpus == 0
    assert p.env["CUDA_VISIBLE_DEVICES"] == ""


def test_multi_gpu_plan_uses_torchrun_and_passes_zero_stage():
    doc = finetune("full").set("spec.resources", {"gpus": 8, "nodes": 2}).set("spec.deepspeed", {"stage": 3})
    p = plan(resource(doc).spec)
    assert (p.launcher, p.gpus, p.nodes) == ("torchrun", 8, 2)
    assert p.env["TUNEFORGE_DEEPSPEED_STAGE"] == "3"
    assert "CUDA_VISIBLE_DEVICES" not in p.env


def test_registry_routes_every_kind():
    assert backend_for(resource(finetune("qlora"))).name == "finetune"
