import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The cached environment may be shared with other checkouts: this one's code first, here and in
# the child processes the tests start.
sys.path.insert(0, str(ROOT / "operator"))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "operator"), os.environ.get("PYTHONPATH")) if p)

# One thread per process: tests run several processes at once (workers, servers, the cluster) on
# 2-core CI machines; a lone local run takes one thread per usable core instead (tuneforge/cpus.py).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def pytest_collection_modifyitems(session, config, items):
    """The real node's tests run last, with TUNEFORGE_REAL_NODE=1: their images (several GB each,
    llama.cpp compiled) and add-ons are then built meanwhile by a background process on the core the
    rest of the suite leaves idle. Without it they are skipped, saying how to run them (about 45 GB of
    disk and half an hour the first time; docs/development.md, "A real node")."""
    real = [item for item in items if "real_kube" in getattr(item, "fixturenames", ())]
    if not real:
        return
    items[:] = [item for item in items if item not in real] + real
    if os.environ.get("TUNEFORGE_REAL_NODE") != "1":
        skip = pytest.mark.skip(reason="real node: run with TUNEFORGE_REAL_NODE=1 scripts/test tests/e2e/test_real_node.py "
                                       "(about 45 GB of disk; docs/development.md)")
        for item in real:
            item.add_marker(skip)
        return
    from support import images

    images.build_in_background()
