"""scripts/publish refuses what would fail after an hour of builds, before building anything."""

import subprocess

import pytest
from support.clusterkit import ROOT


def publish(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "publish"), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, message", [
    ([], "publish: name the registry, e.g. scripts/publish registry.example.com/ml/tuneforge"),
    (["https://registry.example.com"], "'https://registry.example.com' is not a registry and path"),
    (["Registry.example.com/ML"], "'Registry.example.com/ML' is not a registry and path"),
    (["r.example/a", "r.example/b"], "one registry only (got r.example/a and r.example/b)"),
    (["r.example/tf", "--images", "finetune,nope"], "no image 'nope' (images/: autoawq awq exl2 finetune gguf mergekit operator)"),
    (["r.example/tf", "--tagg", "1"], "publish: unknown option --tagg"),
])
def test_bad_arguments_are_refused_before_any_build(args, message):
    proc = publish(*args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "building" not in proc.stderr
