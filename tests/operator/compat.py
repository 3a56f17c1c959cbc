"""A small compatibility layer over kmock 0.8's Kubernetes emulator, for the faults a real API server
cannot easily be made to answer (tests/operator/test_robustness.py); everything else runs against the
real control plane (tests/e2e). It closes the gaps that matter to a kopf operator (each a known
limitation of kmock 0.8, not something tuneforge relies on):

- objects get no metadata.uid / resourceVersion / creationTimestamp / generation on creation:
  added here, since ownerReferences and kstatus observedGeneration need them;
- custom resources are not registered: registered here from the CRDs `tuneforge crds` renders;
- `GET /api/v1/namespaces` cannot be parsed: the operator runs cluster-wide in tests;
- label selectors are ignored on lists: the operator filters by labels itself (so does kopf);
- metadata.generateName is not honoured (kopf names its Events that way): a name is generated here;
- a failed JSON-patch `test` (kopf's optimistic check of resourceVersion) is answered 500: it is
  answered 422 Unprocessable Entity here, as the API server does (kopf then retries next cycle);
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import attrs
import jsonpatch
import kmock
from kmock._internal import enums
from kmock._internal.k8s import KubernetesError
from kmock._internal.references import ResourceInfo

from tuneforge.codegen import crds

_versions = itertools.count(1)


@attrs.frozen
class PatchTestFailed(KubernetesError):
    status: int = 422
    reason: str = "Invalid"
    message: str = "the JSON patch test of metadata.resourceVersion failed: the object changed meanwhile"


@attrs.frozen
class Injected(KubernetesError):
    status: int = 500
    reason: str = "InternalError"
    message: str = "an error injected by the test"


class Emulator(kmock.KubernetesEmulator):
    """kmock's emulator with the gaps above closed, and a way to inject API errors."""

    def inject(self, method: str, path: str, status: int, times: int = 1) -> None:
        """Answer the next `times` requests `METHOD path` with an error of this status."""
        self.__dict__.setdefault("_injected", []).append([method.upper(), path, status, times])
        self.__dict__.setdefault("_fired", {}).setdefault((method.upper(), path), 0)

    def fired(self, method: str, path: str) -> int:
        """How many injected errors were answered to `METHOD path`."""
        return self.__dict__.get("_fired", {}).get((method.upper(), path), 0)

    async def _handle(self, request):
        for entry in self.__dict__.get("_injected", []):
            method, path, status, times = entry
            if times > 0 and str(request.method).upper().endswith(method) and request.url.path == path:
                entry[3] -= 1
                self.__dict__["_fired"][(method, path)] += 1
                raise Injected(status=status, reason="Conflict" if status == 409 else "InternalError")
        if request.resource is not None and request.action == enums.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
            meta.setdefault("generation", 1)
            if request.namespace and not meta.get("namespace"):
                meta["namespace"] = request.namespace
        if request.resource is not None and request.action in (enums.action.CREATE, enums.action.UPDATE) \
                and isinstance(request.data, dict):
            request.data.setdefault("metadata", {})["resourceVersion"] = str(next(_versions))
        try:
            return await super()._handle(request)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchTestFailed() from exc


def register_crds(server) -> None:
    server.resources.load_bundled()
    for doc in crds.render().values():
        spec = doc["spec"]
        for version in spec["versions"]:
            server.resources[f"{spec['group']}/{version['name']}/{spec['names']['plural']}"] = ResourceInfo(
                kind=spec["names"]["kind"], singular=spec["names"]["singular"], namespaced=True,
                verbs={"list", "watch", "get", "create", "patch", "update", "delete"},
                shortnames=set(spec["names"]["shortNames"]), categories=set(spec["names"]["categories"]),
                subresources=set(version.get("subresources") or {}),
            )
