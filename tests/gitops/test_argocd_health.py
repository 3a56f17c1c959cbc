"""The Argo CD health check (gitops/argocd/health.lua), run by a real Lua interpreter (lupa) against
statuses the operator itself writes (tuneforge.controller.status), and the argocd-cm example that
installs it."""

from pathlib import Path

import pytest
import yaml
from lupa import LuaRuntime

from tuneforge.controller import status

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "gitops" / "argocd" / "health.lua").read_text()


def health(obj: dict) -> tuple[str, str]:
    lua = LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return result["status"], result["message"]


def resource(phase=None, reason="", message="", generation=1, observed=1, **extra):
    obj = {"apiVersion": "tuneforge.io/v1alpha1", "kind": "FineTuneJob",
           "metadata": {"name": "smol", "namespace": "ml", "generation": generation}}
    if phase is not None:
        obj["status"] = {"phase": phase, "message": message, "observedGeneration": observed,
                         "conditions": status.conditions(None, phase, reason, message, observed), **extra}
    return obj


@pytest.mark.parametrize("obj, expected", [
    (resource(), ("Progressing", "Waiting for the tuneforge operator")),
    (resource("Pending", "JobCreated", "created Job smol-ftj"), ("Progressing", "created Job smol-ftj")),
    (resource("Pending", "WaitingForInput", "waiting for FineTuneJob/ft to succeed"),
     ("Progressing", "waiting for FineTuneJob/ft to succeed")),
    (resource("Running", "Running", "running", progress={"percent": 40, "eta": "3m"}), ("Progressing", "Running: 40%, 3m left")),
    (resource("Running", "Running", "running", generation=2, observed=1),
     ("Progressing", "Waiting for the operator to observe generation 2")),
    (resource("Succeeded", "Succeeded", "done", output={"uri": "pvc://outputs/ml/smol"}),
     ("Healthy", "Succeeded: pvc://outputs/ml/smol")),
    (resource("Failed", "OOMKilled", "the worker ran out of memory (OOMKilled); try method qlora"),
     ("Degraded", "the worker ran out of memory (OOMKilled); try method qlora")),
    (resource("Failed", "InvalidSpec", "spec.method: Input should be 'full', 'lora', 'qlora' or 'dpo'"),
     ("Degraded", "spec.method: Input should be 'full', 'lora', 'qlora' or 'dpo'")),
    (resource("Suspended", "Suspended", "created Job smol-ftj, suspended"), ("Suspended", "created Job smol-ftj, suspended")),
], ids=["new", "pending", "waiting-for-input", "running", "not-yet-observed", "succeeded", "failed", "invalid", "suspended"])
def test_health_for_each_status(obj, expected):
    assert health(obj) == expected


def test_stalled_condition_alone_is_degraded():
    obj = resource("Pending", "JobCreated", "created")
    for condition in obj["status"]["conditions"]:
        if condition["type"] == "Stalled":
            condition.update(status="True", message="the Job was deleted by hand")
    assert health(obj) == ("Degraded", "the Job was deleted by hand")


def test_the_argocd_cm_example_installs_this_script_for_all_three_kinds():
    cm = yaml.safe_load((ROOT / "examples" / "gitops" / "argocd-cm.yaml").read_text())
    keys = {k: v for k, v in cm["data"].items() if k.startswith("resource.customizations.health.")}
    assert set(keys) == {f"resource.customizations.health.tuneforge.io_{kind}" for kind in ("FineTuneJob", "MergeJob", "QuantizeJob")}
    for value in keys.values():
        assert value.strip() == SCRIPT.strip()
