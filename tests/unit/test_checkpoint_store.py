"""Where checkpoints go and which one a new start resumes from (the S3 copy runs in
tests/backends/test_preemption.py against a real S3 server)."""

import json
from pathlib import Path

from support.builders import finetune, spec_of

from tuneforge.backends.finetune.checkpoints import Store, newest


def checkpoint(folder, step: int, complete: bool = True, jit_unfinished: bool = False):
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if jit_unfinished:
        (path / "checkpoint-is-incomplete.txt").write_text("in progress")
    return path


def test_locations_by_output():
    s3 = spec_of(finetune("lora").set("spec.output", {"uri": "s3://models/smol", "secretRef": {"name": "s3"}}))
    store = Store(s3, Path("/staging/out"), "s3://models/smol")
    assert store.remote == "s3://models/smol-checkpoints" and store.secret.name == "s3" and store.owned
    overridden = Store(s3, Path("/tmp/out"), "file:///tmp/out")  # tuneforge run --output: all stays local
    assert overridden.remote is None and overridden.local == Path("/tmp/out/checkpoints")
    explicit = spec_of(finetune("lora").set("spec.checkpoints", {"uri": "s3://ckpt/run", "secretRef": {"name": "c"}})
                       .set("spec.output", {"uri": "s3://models/smol", "secretRef": {"name": "s3"}}))
    store = Store(explicit, Path("/staging/out"), "s3://models/smol")
    assert (store.remote, store.secret.name) == ("s3://ckpt/run", "c")
    local = Store(spec_of(finetune("lora").set("spec.checkpoints", {"uri": "file:///data/ckpt"})),
                  Path("/o"), "file:///o")
    assert local.remote is None and str(local.local) == "/data/ckpt" and not local.owned


def test_resume_from_the_newest_complete_checkpoint_and_count_starts(tmp_path):
    store = Store(spec_of(finetune("lora")), tmp_path, f"file://{tmp_path}")
    assert store.restore(first=True) is None and store.restarts() == 0
    checkpoint(store.local, 4)
    checkpoint(store.local, 12)
    checkpoint(store.local, 16, complete=False)            # killed while saving
    checkpoint(store.local, 20, jit_unfinished=True)       # SIGTERM save cut short by SIGKILL
    assert store.restore(first=True).endswith("checkpoint-12") and store.restarts() == 1
    assert store.restore(first=False).endswith("checkpoint-12") and store.restarts() == 1, "only rank 0 counts"
    assert newest(tmp_path / "nowhere") is None
    store.finished()
    assert not store.local.exists()
