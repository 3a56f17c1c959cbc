"""Checkpoints, tracking and speed options of a FineTuneJob: the message a user sees for each bad
value, naming the field."""

import pytest
from support.builders import finetune

from tuneforge.api.manifest import parse

M = {"trackingUri": "http://mlflow:5000"}
CASES = [
    ("spec.checkpoints", {"uri": "hf://org/ckpt"},
     "spec.checkpoints.uri: 'hf://org/ckpt': checkpoints go to s3://, pvc:// or file:// (a folder)"),
    ("spec.checkpoints", {"uri": "s3:///x"}, "spec.checkpoints.uri: 's3:///x' needs a bucket: s3://bucket/prefix"),
    ("spec.checkpoints", {"gracePeriodSeconds": 5},
     "spec.checkpoints.gracePeriodSeconds: Input should be greater than or equal to 30"),
    ("spec.checkpoints", {"secretRef": {"name": "s3"}},
     "spec.checkpoints.secretRef: secretRef applies to an s3:// uri; without a uri checkpoints go beside the output, "
     "with the output's credentials"),
    ("spec.checkpoints", {"uri": "pvc://claim/ck", "secretRef": {"name": "s3"}},
     "spec.checkpoints.secretRef: pvc:// needs no credentials; secretRef applies to hf://, s3:// and oci://"),
    ("spec.tracking", {"mlflow": {"trackingUri": "mlflow:5000"}},
     "spec.tracking.mlflow.trackingUri: 'mlflow:5000' is not an http:// or https:// URL of a tracking server "
     "(e.g. http://mlflow.mlflow.svc:5000)"),
    ("spec.tracking", {"mlflow": {}}, "spec.tracking.mlflow.trackingUri: required field is missing"),
    ("spec.tracking", {}, "spec.tracking.mlflow: required field is missing"),
    ("spec.tracking", {"mlflow": {**M, "experiment": ""}},
     "spec.tracking.mlflow.experiment: String should have at least 1 character"),
    ("spec.tracking", {"mlflow": {**M, "runName": ""}}, "spec.tracking.mlflow.runName: String should have at least 1 character"),
    ("spec.tracking", {"mlflow": {**M, "tags": {"mlflow.user": "x"}}},
     "spec.tracking.mlflow.tags: tag key 'mlflow.user': up to 250 letters, digits, '_', '-', '.', '/' or spaces, "
     "not starting with 'mlflow.' (MLflow's own)"),
    ("spec.tracking", {"mlflow": {**M, "tags": {"team": 3}}}, "spec.tracking.mlflow.tags.team: Input should be a valid string"),
    ("spec.tracking", {"mlflow": {**M, "secretRef": {"name": "m", "key": "token"}}},
     "spec.tracking.mlflow.secretRef.key: the tracking Secret is read by MLflow's key names (MLFLOW_TRACKING_USERNAME, "
     "MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN); key does not apply"),
    ("spec.training", {"attention": "flash"},
     "spec.training.attention: Input should be 'auto', 'sdpa', 'eager' or 'flash-attention-2'"),
    ("spec.training", {"attention": "flash-attention-2"},
     "spec.training.attention: flash-attention-2 runs on NVIDIA GPUs only and this job has no GPU (resources.gpus: 0); "
     "sdpa, the default on CPU, is PyTorch's fused attention"),
    ("spec.training", {"ligerKernels": "yes"}, "spec.training.ligerKernels: Input should be 'auto', 'on' or 'off'"),
    ("spec.training", {"ligerKernels": "on"},
     "spec.training.ligerKernels: Liger's kernels are Triton GPU kernels and this job has no GPU (resources.gpus: 0); "
     "use auto or off"),
]


@pytest.mark.parametrize("path, value, expected", CASES, ids=[c[2].split(":")[0] + str(n) for n, c in enumerate(CASES)])
def test_bad_value_message(path, value, expected):
    _, issues = parse(dict(finetune("lora").set(path, value)))
    assert [f"{i.path}: {i.message}" for i in issues] == [expected]


def test_gpu_only_options_are_accepted_with_a_gpu():
    doc = finetune("lora").set("spec.training", {"attention": "flash-attention-2", "ligerKernels": "on"})
    assert parse(dict(doc.set("spec.resources", {"gpus": 1})))[1] == []
