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

from support import workers  # noqa: E402 (needs the path above)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def pytest_configure(config):
    # Registered here rather than in pyproject.toml, whose every byte keys the cached environments.
    config.addinivalue_line("markers", "quickstart_node: a real-node test that CI runs too "
                                       "(TUNEFORGE_REAL_NODE=quickstart, .ci/run)")
    workers.configure(config)


REAL_NODE_HELP = "TUNEFORGE_REAL_NODE=1 scripts/test tests/e2e/test_real_node.py (about 40 GB of disk; docs/development.md)"


# What a real-node run needs on a machine without its caches (docs/development.md, "A real node"),
# and free beside any caches: the suite's own files grow while the images build, and a changed
# dependency adds a new copy of an environment (about 6 GB) before the old one can go.
REAL_NODE_DISK = 40 << 30
REAL_NODE_FREE = 15 << 30


def disk_short_of(needed: int) -> str | None:
    """Why the machine cannot hold the real node's images, or None: the free space counted with what
    ~/.cache/tuneforge already holds of them (a second run reuses it)."""
    import shutil
    import subprocess

    cache = Path.home() / ".cache" / "tuneforge"
    folders = [str(cache / f) for f in ("images/buildah", "kube/registry", "kube/containerd") if (cache / f).is_dir()]
    du = subprocess.run(["du", "-sbcx", *folders], capture_output=True, text=True).stdout.split() if folders else []
    held = int(du[-2]) if len(du) >= 2 else 0
    free = shutil.disk_usage(cache if cache.exists() else Path.home()).free
    if free + held >= needed and free >= REAL_NODE_FREE:
        return None
    return (f"{free / 2**30:.0f} GiB of disk free and {held / 2**30:.0f} GiB already held of the "
            f"{needed / 2**30:.0f} GiB its images take, with at least {REAL_NODE_FREE >> 30} GiB free")


def pytest_collection_modifyitems(session, config, items):
    real_node_last(items)
    workers.record(items)


@pytest.hookimpl(optionalhook=True)  # the operator's environment has no pytest-xdist
def pytest_xdist_make_scheduler(config, log):
    return workers.scheduler(config, log) if config.getoption("dist") == "loadgroup" else None


def real_node_last(items) -> None:
    """The real node's tests run last (of the cluster's group); their images (several GB each) and
    add-ons are built meanwhile by a background process beside the suite's workers. TUNEFORGE_REAL_NODE=1 runs
    them all; =quickstart (CI, .ci/run) those marked `quickstart_node`: the operator's Deployment and
    the quickstart on real containers. The others are skipped, saying how to run them
    (docs/development.md, "A real node")."""
    real = [item for item in items if "real_kube" in getattr(item, "fixturenames", ())]
    if not real:
        return
    items[:] = [item for item in items if item not in real] + real
    mode = os.environ.get("TUNEFORGE_REAL_NODE", "")
    running = [item for item in real
               if mode == "1" or (mode == "quickstart" and item.get_closest_marker("quickstart_node"))]
    for item in real:
        if item not in running:
            item.add_marker(pytest.mark.skip(reason=f"real node: run with {REAL_NODE_HELP}"))
    short = disk_short_of(REAL_NODE_DISK) if running else None
    if short:
        for item in running:
            item.add_marker(pytest.mark.skip(reason=f"real node: {short}"))
        running = []
    if running:
        from support import images

        images.build_in_background()
