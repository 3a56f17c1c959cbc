"""The operator image's environment (this one) has no ML library at all; every module the operator
imports loads here, so none of them needs one."""

import subprocess
import sys
from pathlib import Path

from support.boundaries import HEAVY, light_modules

ROOT = Path(__file__).resolve().parents[2]


def test_every_light_module_loads_in_the_operator_environment():
    modules = light_modules(ROOT)
    code = f"import sys, {', '.join(modules)}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
