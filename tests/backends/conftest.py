"""Fixtures the backend tests share."""

import pytest
from support import registry as registry_support


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A real OCI registry on 127.0.0.1 (Debian's docker-registry with a password file), one per module."""
    reg = registry_support.start(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session", autouse=True)
def warm_workers(tmp_path_factory):
    """The workers of this process's `tuneforge run` calls forked from one warm process (the
    libraries imported once per test process, not once per worker: several minutes of the suite);
    TUNEFORGE_WARM=0 starts every worker fresh."""
    import os

    from support.warm import WarmProcess

    if os.environ.get("TUNEFORGE_WARM") == "0":
        os.environ.pop("TUNEFORGE_WARM")
        yield None
        return
    warm = WarmProcess(tmp_path_factory.mktemp("warm"))
    os.environ.update(warm.env)
    yield warm
    os.environ.pop("TUNEFORGE_WARM", None)
    warm.stop()
