"""oci://registry/repository[:tag|@sha256:digest]: a model as an OCI image in a registry, the layout
KServe's modelcars mount (the files under /models). Parsing only; tuneforge/sources/oci.py moves data."""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

# A repository path as the distribution spec allows it: lower-case components joined by / . _ -
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")


class OciReference(NamedTuple):
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def target(self) -> str:
        """host/repository:tag or host/repository@digest, as registry clients take it."""
        return f"{self.registry}/{self.repository}" + (f"@{self.digest}" if self.digest else f":{self.tag}")

    @property
    def loopback(self) -> bool:
        """A registry on this machine (localhost, 127.0.0.0/8, ::1): plain HTTP never leaves it."""
        host = self.registry.rsplit("]", 1)[0].lstrip("[") if self.registry.startswith("[") else self.registry.rsplit(":", 1)[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def parse(uri: str) -> OciReference:
    """The parts of an oci:// URI; ValueError saying what is wrong."""
    rest = uri.removeprefix("oci://")
    registry, slash, path = rest.partition("/")
    if not slash or not registry or not path:
        raise ValueError(f"'{uri}' needs a registry and a repository: oci://registry[:port]/repository[:tag]")
    digest = tag = None
    if "@" in path:
        path, _, digest = path.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"'{uri}': the digest after @ must be sha256:<64 hex digits>")
    elif ":" in path.rsplit("/", 1)[-1]:
        path, _, tag = path.rpartition(":")
        if not _TAG.fullmatch(tag):
            raise ValueError(f"'{uri}': '{tag}' is not a tag (letters, digits, . _ -, at most 128)")
    bad = [part for part in path.split("/") if not _COMPONENT.fullmatch(part)]
    if bad:
        raise ValueError(f"'{uri}': repository component '{bad[0]}' is not valid (lower case letters, digits, . _ -)")
    return OciReference(registry, path, tag or (None if digest else "latest"), digest)
