"""A worker forked by the warm process (tuneforge/cli/warm.py) trains as a fresh one does: the same
LoRA job through `tuneforge run`, once fresh and once warm, gives the same losses step for step."""

import deepspeed  # noqa: F401 (a test process that imported it, as the suite's do, sets PYTORCH_NVML_BASED_CUDA_CHECK)
import pytest
from support.run import losses, tuneforge

pytestmark = pytest.mark.slow


def run(root, out):
    proc = tuneforge("run", str(root / "examples" / "finetune-lora-local.yaml"), "--output", str(out),
                     "--set", "spec.training.maxSteps=3", "--set", "spec.training.maxLength=64",
                     "--set", "spec.output.mergeAdapter=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return losses(out), out.parent.joinpath(f"{out.name}.log").read_text()


def test_a_forked_worker_trains_as_a_fresh_one(root, tmp_path, warm_workers, monkeypatch):
    if warm_workers is None:
        pytest.skip("TUNEFORGE_WARM=0: no warm process in this run")
    forked = len(warm_workers.lines("warm: forked"))
    warm, warm_log = run(root, tmp_path / "warm")
    assert len(warm_workers.lines("warm: forked")) == forked + 1, warm_log[-2000:]
    monkeypatch.delenv("TUNEFORGE_WARM")
    fresh, fresh_log = run(root, tmp_path / "fresh")
    assert len(warm_workers.lines("warm: forked")) == forked + 1
    assert "warm process" not in fresh_log + warm_log
    assert len(fresh) == 3 and warm == fresh
