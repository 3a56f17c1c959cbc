"""The Helm chart, checked with the real helm binary (v4, from scripts/kube-tools.sh)."""

import subprocess
import sys
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from support.clusterkit import notes_manifest
from support.podsecurity import violations

from tuneforge.controller.settings import Settings, worker_images

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tuneforge"
# What the operator calls, and nothing else (README of the chart documents the same list).
RULES = [
    {"apiGroups": ["tuneforge.io"], "resources": ["finetunejobs", "mergejobs", "quantizejobs"],
     "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["tuneforge.io"], "resources": ["finetunejobs/status", "mergejobs/status", "quantizejobs/status"],
     "verbs": ["get", "patch"]},
    {"apiGroups": ["tuneforge.io"], "resources": ["finetunejobs/finalizers", "mergejobs/finalizers", "quantizejobs/finalizers"],
     "verbs": ["update"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "create", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads"], "verbs": ["list"]},
]
# kopf watches CRDs cluster-wide to discover its resources (found by running the chart on a real API server).
DISCOVERY_RULES = [{"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]}]
VARIANTS = {
    "default": [],
    "namespaced": ["--set", "watchNamespaces={team-a,team-b}"],
    "metrics": ["--set", "metrics.serviceMonitor.enabled=true"],
    "cache": ["--set", "modelCache.create=true", "--set", "defaultOutputClaim=outputs"],
    "networkpolicy": ["--set", "networkPolicy.enabled=true"],
}


@cache
def helm() -> str:
    return subprocess.run([str(ROOT / "scripts" / "kube-tools.sh")], capture_output=True, text=True,
                          check=True).stdout.strip() + "/helm"


def template(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm(), "template", "tf", str(CHART), "--namespace", "tuneforge", *args],
                          capture_output=True, text=True)


def render(*args: str) -> list[dict]:
    proc = template(*args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def test_lint_strict_is_clean():
    for args in VARIANTS.values():
        proc = subprocess.run([helm(), "lint", "--strict", str(CHART), *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_rbac_is_exactly_the_documented_rules(variant):
    docs = render(*VARIANTS[variant])
    roles = [d for d in docs if d["kind"] in ("Role", "ClusterRole") and not d["metadata"]["name"].endswith("-discovery")]
    discovery = [d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-discovery")]
    # Namespace-scoped, the operator holds nothing at cluster scope (it discovers the CRDs once).
    assert roles and len(discovery) == (variant != "namespaced") and all(d["rules"] == DISCOVERY_RULES for d in discovery)
    if variant == "namespaced":
        assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    for role in roles:
        assert role["rules"] == RULES
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert "secrets" not in rule["resources"]
    kinds = sorted(r["kind"] for r in roles)
    if variant == "namespaced":
        assert kinds == ["Role", "Role"] and sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args == ["operator", "--namespace=team-a", "--namespace=team-b"]
    else:
        assert kinds == ["ClusterRole"]


def test_operator_pod_is_restricted_single_and_probed():
    deployment = next(d for d in render() if d["kind"] == "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert violations(pod) == []
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["resources"]["limits"]["memory"]
    env = {e["name"]: e["value"] for e in container["env"]}
    # Every backend the operator knows has an image setting, and no other.
    assert {k for k in env if k.startswith("TUNEFORGE_IMAGE_") and k != "TUNEFORGE_IMAGE_PULL_POLICY"} == {
        f"TUNEFORGE_IMAGE_{b.upper()}" for b in worker_images()}
    assert env["TUNEFORGE_IMAGE_GGUF"] == "ghcr.io/tuneforge/gguf:0.1.0"


def images(*args: str) -> dict[str, str]:
    """The operator's image and each worker's, as the Deployment names them."""
    container = next(d for d in render(*args) if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    found = {e["name"].removeprefix("TUNEFORGE_IMAGE_").lower(): e["value"] for e in container["env"]
             if e["name"].startswith("TUNEFORGE_IMAGE_") and e["name"] != "TUNEFORGE_IMAGE_PULL_POLICY"}
    return {"operator": container["image"], **found}


def test_one_registry_value_names_every_image():
    moved = images("--set", "imageRegistry=registry.example.com:5000/ml/tuneforge")
    assert moved == {name: f"registry.example.com:5000/ml/tuneforge/{name}:0.1.0" for name in ("operator", *worker_images())}
    # One image taken from elsewhere, with its own tag for all workers: the rest follow the registry.
    mixed = images("--set", "imageRegistry=r.example/tf", "--set", "workers.images.gguf=mirror.example/gguf-cuda",
                   "--set-string", "workers.tag=2", "--set", "operator.image.repository=o.example/op")
    assert mixed["gguf"] == "mirror.example/gguf-cuda:2" and mixed["finetune"] == "r.example/tf/finetune:2"
    assert mixed["operator"] == "o.example/op:0.1.0"


def test_variants_render_what_they_promise():
    kinds = {name: sorted(d["kind"] for d in render(*args)) for name, args in VARIANTS.items()}
    assert "ServiceMonitor" in kinds["metrics"] and "ServiceMonitor" not in kinds["default"]
    assert "PersistentVolumeClaim" in kinds["cache"]
    assert "NetworkPolicy" in kinds["networkpolicy"]
    cache_env = {e["name"]: e["value"] for d in render(*VARIANTS["cache"]) if d["kind"] == "Deployment"
                 for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert cache_env["TUNEFORGE_CACHE_CLAIM"] == "tf-tuneforge-model-cache"
    assert cache_env["TUNEFORGE_OUTPUT_CLAIM"] == "outputs"


# The versions the manifests are validated for: the kubectl shipped with the tests, and the newest
# kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.33.0", kubernetes_validate.latest_version()]


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_manifests_pass_kubernetes_validate_strict(variant):
    docs = [d for d in yaml.safe_load_all(template("--include-crds", *VARIANTS[variant]).stdout) if d]
    assert {d["kind"] for d in docs} >= {"CustomResourceDefinition", "Deployment", "ServiceAccount"}
    for doc in docs:
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            # The Prometheus Operator's CRD, not Kubernetes': kubernetes-validate has no schema for it.
            assert doc["kind"] == "ServiceMonitor" and doc["spec"]["endpoints"][0]["port"] == "metrics"
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} on Kubernetes {version}: {exc.message} at {list(exc.path)}")


def test_backend_defaults_reach_the_operator_and_put_gpu_backends_on_gpu_nodes(monkeypatch):
    deployment = next(d for d in render() if d["kind"] == "Deployment")
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    monkeypatch.setenv("TUNEFORGE_BACKEND_DEFAULTS", env["TUNEFORGE_BACKEND_DEFAULTS"])
    defaults = Settings.from_env().backend_defaults
    gpu = [b for b, d in defaults.items() if any(t.get("key") == "nvidia.com/gpu" for t in d.get("tolerations", []))]
    assert sorted(gpu) == ["autoawq", "awq", "exl2", "finetune"]
    assert all(defaults[b].get("nodeSelector") == {"nvidia.com/gpu.present": "true"} for b in gpu)
    assert "nodeSelector" not in defaults["mergekit"] and "nodeSelector" not in defaults["gguf"]
    assert set(defaults) == set(worker_images())


def test_crds_in_the_chart_are_the_generated_ones():
    for path in (CHART / "crds").glob("*.yaml"):
        assert path.read_text() == (ROOT / "crds" / path.name).read_text()


@pytest.mark.parametrize("args,message", [
    (["--set", "metrics.port=0"], "at '/metrics/port': minimum: got 0, want 1"),
    (["--set", "watchNamespaces={Team_A}"], "at '/watchNamespaces/0': 'Team_A' does not match pattern"),
    (["--set", "operator.image.pullPolicy=Sometimes"],
     "at '/operator/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"),
    (["--set", "modelCache.sizee=1Gi"], "at '/modelCache': additional properties 'sizee' not allowed"),
    (["--set", "workers.defaults.gguf.nodeSelector.pool=1"], "at '/workers/defaults/gguf/nodeSelector/pool': got number, want string"),
    (["--set", "workers.defaults.merge.resources.requests.cpu=2"], "at '/workers/defaults': additional properties 'merge' not allowed"),
    (["--set", "imageRegistry=registry.example.com/ml/"], "at '/imageRegistry': 'registry.example.com/ml/' does not match pattern"),
    (["--set", "imageRegistry=https://registry.example.com"], "at '/imageRegistry': 'https://registry.example.com' does not match pattern"),
])
def test_bad_values_are_refused_with_the_field_named(args, message):
    proc = template(*args)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def notes(*args: str) -> str:
    proc = subprocess.run([helm(), "install", "tf", str(CHART), "--dry-run=client", "--namespace", "tuneforge", *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\nNOTES:\n", 1)[1]


@pytest.mark.parametrize("args", [[], ["--set", "defaultOutputClaim=outputs"]], ids=["own-claim", "default-claim"])
def test_notes_show_the_quickstart_inline_and_it_validates(args, tmp_path):
    """What NOTES.txt tells a user to apply needs no URL of this repository: it is the quickstart
    (examples/quickstart.yaml), with an output on a claim where the release names none, and valid."""
    text = notes(*args)
    assert "http" not in text, text
    manifest = notes_manifest(text)
    shown = list(yaml.safe_load_all(manifest))
    quickstart = list(yaml.safe_load_all((ROOT / "examples" / "quickstart.yaml").read_text()))
    for doc, example in zip(shown, quickstart, strict=True):
        uri = doc["spec"].get("output", {}).pop("uri", None)
        if not doc["spec"].get("output", True):
            del doc["spec"]["output"]
        assert uri == (None if args else f"pvc://models/{doc['metadata']['name']}")
        assert doc == example
    (tmp_path / "notes.yaml").write_text(manifest)
    proc = subprocess.run([sys.executable, "-m", "tuneforge.cli", "validate", str(tmp_path / "notes.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
