"""Training that survives preemption, locally against a real S3 server (moto on 127.0.0.1).

A worker writing to s3:// gets SIGTERM mid-run, as a pod does when it is preempted or evicted: it
saves a checkpoint at once, uploads it, and exits 143. A second worker with an empty cache (a new
pod on another node) downloads that checkpoint and resumes: its record counts the same steps as a
run never interrupted, and every step after the resume has the same loss as that run's, which only
holds with the same data order, optimizer and scheduler state.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from support import s3server

from tuneforge.api.sources import secret_env

pytestmark = pytest.mark.slow
STEPS = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = s3server.start(tmp_path_factory.mktemp("moto"))
    srv.client().create_bucket(Bucket="ckpt")
    yield srv
    srv.stop()


def manifest(root, tmp_path, name: str) -> str:
    doc = yaml.safe_load((root / "examples" / "finetune-lora-local.yaml").read_text())
    doc["metadata"]["name"] = name
    doc["spec"]["training"].update(maxSteps=STEPS, saveSteps=4, maxLength=96, batchSize=2, warmupSteps=0)
    # No dropout: transformers' SIGTERM checkpoint holds the random state from the start of the step
    # it interrupted, so dropout masks would differ slightly; without them the losses must match.
    doc["spec"]["lora"]["dropout"] = 0.0
    doc["spec"]["output"] = {"uri": f"s3://ckpt/{name}", "secretRef": {"name": "s3-creds"}, "sample": "off"}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def worker(server, spec: str, cache, **popen):
    env = {**os.environ, "TUNEFORGE_CACHE": str(cache), "OMP_NUM_THREADS": "1",
           secret_env("s3-creds", "AWS_ACCESS_KEY_ID"): s3server.ACCESS_KEY,
           secret_env("s3-creds", "AWS_SECRET_ACCESS_KEY"): s3server.SECRET_KEY,
           secret_env("s3-creds", "AWS_ENDPOINT_URL"): server.url}
    return subprocess.Popen([sys.executable, "-m", "tuneforge.worker", "--spec", spec], env=env, text=True, **popen)


def steps_of(line: str) -> int | None:
    if line.startswith("::tuneforge::progress"):
        return json.loads(line.split(" ", 1)[1]).get("step")
    return None


def s3_json(server, key: str):
    return json.loads(server.client().get_object(Bucket="ckpt", Key=key)["Body"].read())


def test_sigterm_saves_to_s3_and_a_new_pod_resumes_like_an_uninterrupted_run(root, tmp_path, server):
    spec = manifest(root, tmp_path, "run")
    first = worker(server, spec, tmp_path / "cache-pod1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in first.stdout:
        if (steps_of(line) or 0) >= 3:
            break
    first.send_signal(signal.SIGTERM)
    _out, err = first.communicate(timeout=300)
    assert first.returncode == 143, err[-3000:]
    assert "preempted: stopped at step" in err and "s3://ckpt/run-checkpoints" in err
    stopped = int(err.split("; checkpoint-")[1].split()[0])
    assert 3 <= stopped < STEPS, err[-500:]
    state = s3_json(server, f"run-checkpoints/checkpoint-{stopped}/trainer_state.json")
    assert state["global_step"] == stopped, "the checkpoint saved on SIGTERM is in S3, complete"
    keys = [o["Key"] for o in server.client().list_objects_v2(Bucket="ckpt", Prefix="run/").get("Contents", [])]
    assert keys == [], "nothing is published as output before the run is done"

    second = worker(server, spec, tmp_path / "cache-pod2", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = second.communicate(timeout=900)
    assert second.returncode == 0, err[-3000:]
    assert f"downloaded checkpoint-{stopped}" in out and f"checkpoint-{stopped}" in out.split("resuming from", 1)[1]
    resumed = s3_json(server, "run/tuneforge-output.json")
    assert resumed["metrics"]["steps"] == STEPS and resumed["metrics"]["resumedFrom"] == f"checkpoint-{stopped}"
    assert resumed["metrics"]["restarts"] == 1

    started = time.monotonic()
    reference = worker(server, manifest(root, tmp_path, "ref"), tmp_path / "cache-ref",
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _out, err = reference.communicate(timeout=900)
    assert reference.returncode == 0, err[-3000:]
    uninterrupted = s3_json(server, "ref/tuneforge-output.json")
    assert uninterrupted["metrics"]["steps"] == resumed["metrics"]["steps"]
    assert uninterrupted["metrics"]["restarts"] == 0 and uninterrupted["metrics"]["resumedFrom"] is None
    after = {h["step"]: h["loss"] for h in s3_json(server, "run/loss-history.json") if "loss" in h}
    expected = {h["step"]: h["loss"] for h in s3_json(server, "ref/loss-history.json") if "loss" in h}
    assert sorted(after) == list(range(stopped + 1, STEPS + 1)), "the resumed run logged only the steps it trained"
    for step, loss in after.items():
        assert loss == pytest.approx(expected[step], rel=1e-4), (step, after, expected, time.monotonic() - started)
