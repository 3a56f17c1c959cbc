"""Which tests share a pytest-xdist worker (scripts/test runs the suite in one worker per core).

xdist's own `--dist loadgroup` reads `xdist_group` marks by rewriting each item's node id, which
pytest 9 no longer lets it do (the id is structured; the rewrite is ignored, and every test goes to
any worker). Here the workers, which collect, write each test's group to a file the controller's
scheduler reads: the control plane's tests in one worker (one cluster per run, the real node's last,
the biggest group and so the first sent), a module whose tests share a module-scoped fixture (a
trained model, a server) in one worker so the fixture is made once, and every other test wherever a
worker is free."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

GROUPS = "TUNEFORGE_TEST_GROUPS"


def configure(config) -> None:
    """In the controller: the file the workers (started after this, with its environment) write."""
    if not hasattr(config, "workerinput") and config.getoption("dist", "no") == "loadgroup":
        os.environ[GROUPS] = str(Path(tempfile.mkdtemp(prefix="tuneforge-groups-")) / "groups.json")


def group_of(item) -> str | None:
    if item.path.parent.name == "e2e":
        return "cluster"
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    if any(d.scope in ("module", "class", "package") for chain in defs.values() for d in chain):
        return item.module.__name__
    return None


def record(items) -> None:
    """In a worker, once collected: every test's group (each worker writes the same)."""
    path = os.environ.get(GROUPS)
    if not path or "PYTEST_XDIST_WORKER" not in os.environ:
        return
    groups = {item.nodeid: group for item in items if (group := group_of(item))}
    part = Path(f"{path}.{os.environ['PYTEST_XDIST_WORKER']}")
    part.write_text(json.dumps(groups))
    os.replace(part, path)


def scheduler(config, log):
    """The controller's scheduler for --dist loadgroup: xdist's by-scope scheduling, each test's scope
    its group from the workers' file (a test in none is a scope of its own)."""
    from xdist.scheduler import LoadScopeScheduling

    class Grouped(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = json.loads(Path(os.environ[GROUPS]).read_text())
            return self.groups.get(nodeid, nodeid)

    return Grouped(config, log)
