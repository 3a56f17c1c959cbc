"""Fixtures the backend tests share."""

import pytest
from support import registry as registry_support


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A real OCI registry on 127.0.0.1 (Debian's docker-registry with a password file), one per module."""
    reg = registry_support.start(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()
