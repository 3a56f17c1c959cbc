"""The real operator (kopf, in the test's event loop) against kmock's emulator over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from typing import Any

import aiohttp
import kopf
import pytest
from compat import Emulator, register_crds

from tuneforge.controller import kube
from tuneforge.controller.reconcile import PLURALS
from tuneforge.controller.settings import Settings

API = "/apis/tuneforge.io/v1alpha1/namespaces/default"


LOGIN: dict[str, str] = {}


@kopf.on.login(id="kmock-login")
def login(**_):
    """kopf talks to the emulator of the running test."""
    return kopf.ConnectionInfo(server=LOGIN["server"], insecure=True)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/operator" in str(item.fspath):
            item.add_marker(pytest.mark.kmock(cls=Emulator))


class Cluster:
    """What a test does to the cluster: apply resources, read them, and play the kubelet."""

    def __init__(self, server, session: aiohttp.ClientSession):
        self.server, self.session = server, session
        self.url = str(server.url).rstrip("/")
        self.logs: dict[str, str] = {}
        self.images: dict[str, str] = {}

    @staticmethod
    def _container(image: str, state: dict[str, Any], last: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": "worker", "image": image, "imageID": "", "ready": "running" in state, "restartCount": 0,
                "state": state, "lastState": last or {}}

    async def request(self, method: str, path: str, body: Any = None, ok=(200, 201)) -> dict[str, Any]:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        async with self.session.request(method, path, json=body, headers=headers) as resp:
            data = await resp.json(content_type=None)
            assert resp.status in ok, (resp.status, data)
            return data

    async def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc = json.loads(json.dumps(dict(doc)))
        doc["metadata"]["namespace"] = "default"
        return await self.request("POST", f"{API}/{PLURALS[doc['kind']]}", doc)

    async def get(self, kind: str, name: str) -> dict[str, Any]:
        return await self.request("GET", f"{API}/{PLURALS[kind]}/{name}")

    async def jobs(self) -> list[dict[str, Any]]:
        return (await self.request("GET", "/apis/batch/v1/namespaces/default/jobs"))["items"]

    async def job(self, name: str) -> dict[str, Any]:
        return await self.request("GET", f"/apis/batch/v1/namespaces/default/jobs/{name}")

    async def wait(self, predicate, timeout: float = 15.0, what: str = "condition"):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await predicate()
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)

    async def wait_phase(self, kind: str, name: str, phase: str, timeout: float = 15.0) -> dict[str, Any]:
        async def check():
            obj = await self.get(kind, name)
            return obj if (obj.get("status") or {}).get("phase") == phase else None
        return await self.wait(check, timeout, f"{kind}/{name} to be {phase}")

    # The kubelet and the Job controller, played by the test.
    async def start(self, job_name: str) -> dict[str, Any]:
        job = await self.job(job_name)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"{job_name}-abcde", "namespace": "default",
                            "labels": job["spec"]["template"]["metadata"]["labels"]},
               "spec": job["spec"]["template"]["spec"],
               "status": {"phase": "Running", "containerStatuses": [
                   self._container(job["spec"]["template"]["spec"]["containers"][0]["image"], {"running": {}})]}}
        self.images[job_name] = pod["status"]["containerStatuses"][0]["image"]
        await self.request("POST", "/api/v1/namespaces/default/pods", pod)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        await self.request("PATCH", f"/apis/batch/v1/namespaces/default/jobs/{job_name}/status",
                           {"status": {"active": 1, "startTime": now}})
        return pod

    async def finish(self, job_name: str, *, exit_code: int = 0, message: str = "", reason: str | None = None,
                     job_condition: str = "Complete", job_reason: str | None = None) -> None:
        terminated = {"exitCode": exit_code, "message": message, **({"reason": reason} if reason else {})}
        await self.request("PATCH", f"/api/v1/namespaces/default/pods/{job_name}-abcde/status", {"status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [self._container(self.images.get(job_name, ""), {"terminated": terminated})]}})
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        cond = {"type": job_condition, "status": "True", **({"reason": job_reason} if job_reason else {})}
        await self.request("PATCH", f"/apis/batch/v1/namespaces/default/jobs/{job_name}/status",
                           {"status": {"active": 0, "conditions": [cond], "completionTime": now}})


@pytest.fixture
async def cluster(kmock, monkeypatch):
    register_crds(kmock)
    monkeypatch.setenv("TUNEFORGE_KUBE_SERVER", str(kmock.url))
    kube.reset()
    # No keep-alive: kopf, when it stops, cancels the tasks created after it started, among them
    # the emulator's task serving a kept-alive connection; a fresh connection per request is immune.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(base_url=str(kmock.url).rstrip("/"), connector=connector) as session:
        yield Cluster(kmock, session)
    kube.reset()


@pytest.fixture
def operator(cluster, kmock, monkeypatch):
    """Start the real tuneforge operator inside the test: `async with operator(): ...`.

    kopf cancels the tasks started after it when it stops, and pytest-asyncio finalizes fixtures
    in a new task; so the operator starts and stops in the test's own task, in its event loop."""
    from tuneforge.controller import main, sync  # noqa: F401  (main registers the handlers)

    monkeypatch.setattr(sync, "PROGRESS_INTERVAL", 0.5)
    # A handler in flight when kopf stops loses its emulator-side task; a short read timeout lets
    # it fail fast instead of holding the stop (see `cluster`).
    monkeypatch.setattr(kube, "TIMEOUT", (2, 3))
    registry = kopf.get_default_registry()
    LOGIN["server"] = cluster.url

    @contextlib.asynccontextmanager
    async def running():
        stop = asyncio.Event()
        settings = Settings(default_output_claim="outputs", cache_claim="model-cache", metrics_port=0)
        task = asyncio.create_task(kopf.operator(registry=registry, standalone=True, clusterwide=True, stop_flag=stop,
                                                 memo=kopf.Memo(settings=settings)))
        await asyncio.sleep(0.3)
        try:
            yield task
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            # A restarted operator is a new process with new connections: kept-alive ones served by
            # emulator tasks that kopf cancelled on stop would hang until their read timeout.
            kube.reset()

    return running
