"""The suite's pytest-xdist grouping (tests/support/workers.py), run for real in two workers on a
small project that uses the same hooks: the cluster's tests share one worker, as do a module's
tests that share a module-scoped fixture; other tests spread over both."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent.parent / "support"

CONFTEST = f"""
import sys
import pytest
sys.path.insert(0, {str(SUPPORT.parent)!r})
from support import workers

def pytest_configure(config):
    workers.configure(config)

def pytest_collection_modifyitems(session, config, items):
    workers.record(items)

@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    return workers.scheduler(config, log) if config.getoption("dist") == "loadgroup" else None
"""


def test_the_cluster_and_a_module_fixture_each_stay_in_one_worker_and_the_rest_spread(tmp_path):
    tests = tmp_path / "tests"
    for folder in ("e2e", "unit"):
        (tests / folder).mkdir(parents=True)
    (tests / "conftest.py").write_text(CONFTEST)
    # Each test takes long enough that a free worker would take the next one if it could.
    for i in range(4):
        (tests / "e2e" / f"test_cluster{i}.py").write_text(f"import time\ndef test_c{i}():\n    time.sleep(0.5)\n")
        (tests / "unit" / f"test_free{i}.py").write_text(f"import time\ndef test_f{i}():\n    time.sleep(0.5)\n")
    (tests / "unit" / "test_shared.py").write_text(textwrap.dedent("""
        import time, pytest
        @pytest.fixture(scope="module")
        def made():
            return 1
        def test_s0(made):
            time.sleep(0.5)
        def test_s1(made):
            time.sleep(0.5)
        def test_s2(made):
            time.sleep(0.5)
        """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
                             "-p", "no:cacheprovider", "tests"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = {name: worker for worker, name in re.findall(r"\[(gw\d)\] .*PASSED \S+::(test_\w+)", result.stdout)}
    assert len(ran) == 11, result.stdout
    assert len({ran[f"test_c{i}"] for i in range(4)}) == 1, ran
    assert len({ran[f"test_s{i}"] for i in range(3)}) == 1, ran
    assert set(ran.values()) == {"gw0", "gw1"}, ran
