"""One side of bench/operator against a real kube-apiserver (etcd + kube-apiserver built by
scripts/kube-build.sh, started by tests/support/cluster.py without a controller manager, so Jobs stay
as created and the server does no work of its own meanwhile).

The server is started once for the whole run and shared by every side and round. Each side's run
starts its operator as the admin user, POSTs N FineTuneJobs, and counts the Jobs through one watch
opened before the first POST (the benchmark adds no polling load that would charge the slower side);
afterwards both collections are deleted, so the next operator starts on an empty server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import cluster as control_plane  # noqa: E402

FTJ = "/apis/tuneforge.io/v1alpha1/namespaces/default/finetunejobs"
JOBS = "/apis/batch/v1/namespaces/default/jobs"


class Server:
    def __init__(self, root: Path) -> None:
        self.cluster = control_plane.start(root, controllers=False)
        self.ssl = self.cluster.ssl_context()
        crds = ROOT / "charts" / "tuneforge" / "crds"
        kubectl = Path(subprocess.run([str(ROOT / "scripts" / "kube-tools.sh")], capture_output=True, text=True,
                                      check=True).stdout.strip()) / "kubectl"
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        subprocess.run([str(kubectl), "apply", "--server-side", "-f", str(crds)], env=env, check=True, capture_output=True)
        subprocess.run([str(kubectl), "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"],
                       env=env, check=True, capture_output=True)

    def stop(self) -> None:
        control_plane.stop(self.cluster.root)

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.cluster.kubeconfig)}

    async def drive(self, resources: list[dict], timeout: float) -> float:
        connector = aiohttp.TCPConnector(ssl=self.ssl, limit=20)
        async with aiohttp.ClientSession(base_url=self.cluster.server, connector=connector) as session:
            async with session.get(JOBS) as resp:
                version = (await resp.json())["metadata"]["resourceVersion"]
            seen: dict[str, float] = {}
            done = asyncio.Event()

            async def watch() -> None:
                params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "false"}
                async with session.get(JOBS, params=params, timeout=aiohttp.ClientTimeout(total=None)) as resp:
                    async for line in resp.content:
                        event = json.loads(line)
                        if event["type"] == "ADDED":
                            seen[event["object"]["metadata"]["name"]] = time.monotonic()
                            if len(seen) >= len(resources):
                                done.set()
                                return

            watcher = asyncio.create_task(watch())
            await asyncio.sleep(0.2)
            started = time.monotonic()

            async def post(body: dict) -> None:
                async with session.post(FTJ, json=body) as resp:
                    assert resp.status in (200, 201), await resp.text()

            await asyncio.gather(*(post(r) for r in resources))
            try:
                await asyncio.wait_for(done.wait(), timeout)
            except TimeoutError:
                raise TimeoutError(f"{len(seen)} of {len(resources)} Jobs after {timeout:.0f} s") from None
            finally:
                watcher.cancel()
            return max(seen.values()) - started

    async def clear(self) -> None:
        """Delete every FineTuneJob and Job, and wait until both collections are empty."""
        connector = aiohttp.TCPConnector(ssl=self.ssl)
        async with aiohttp.ClientSession(base_url=self.cluster.server, connector=connector) as session:
            for path in (FTJ, JOBS):
                async with session.delete(path, json={"propagationPolicy": "Background"}) as resp:
                    assert resp.status == 200, await resp.text()
            for path in (FTJ, JOBS):
                while True:
                    async with session.get(path, params={"limit": "1"}) as resp:
                        if not (await resp.json())["items"]:
                            break
                    await asyncio.sleep(0.5)

