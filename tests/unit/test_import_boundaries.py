"""The operator image stays light: the API, CRD rendering and CLI validation import no ML library."""

import ast
import subprocess
import sys

from support.boundaries import HEAVY, light_modules

LIGHT_PACKAGES = ("tuneforge/api", "tuneforge/controller")


def imported_heavy(modules: list[str]) -> list[str]:
    code = f"import sys, {', '.join(modules)}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout)  # a printed list of names


def test_light_modules_import_no_ml_library(root):
    """Here (the workers' environment) everything but the kopf/kubernetes modules; tests/operator runs
    the whole list in the operator image's environment, where no ML library is even installed."""
    modules = light_modules(root)
    assert len([m for m in modules if m.endswith(".plan")]) == 5 and "tuneforge.controller.main" in modules
    without_kopf = [m for m in modules if m.split(".")[-1] not in ("main", "kube", "reconcile", "sync", "metrics", "queue")]
    assert imported_heavy(without_kopf) == []


def test_no_heavy_import_statement_in_api_or_controller(root):
    offenders = []
    for package in LIGHT_PACKAGES:
        for path in (root / "operator" / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in HEAVY]
    assert offenders == []


def test_the_check_itself_sees_a_heavy_import(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("import torch\n")
    tree = ast.parse(sample.read_text())
    assert any(isinstance(n, ast.Import) and n.names[0].name == "torch" for n in ast.walk(tree))


def test_worker_code_never_imports_kopf(root):
    for path in (root / "operator" / "tuneforge" / "backends").rglob("*.py"):
        assert "kopf" not in path.read_text(), path
    for path in (root / "operator" / "tuneforge" / "worker").rglob("*.py"):
        assert "kopf" not in path.read_text(), path


