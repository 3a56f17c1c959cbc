"""kmock's Kubernetes emulator (with the tests' compatibility layer) as a process of its own.

    python bench/operator/emulator.py PORT

Prints its URL when it is listening. Run apart from the operator so the operator's memory is its own.
kmock keeps every request for later assertions and matches each new request by scanning that
history, which makes thousands of resources quadratic; this process keeps only the recent history
(the same for both sides of the benchmark; the tests keep all of it).

kmock also finds the object of a GET, PATCH or POST by scanning every stored object, which makes
each request cost more the more objects (Jobs, Events) exist; this process looks a named object up
by its key, as an API server does (same answers; other requests still scan).

It also counts the Jobs it created and when the last one was (`GET /bench/jobs`): listing the Jobs
to count them would cost the emulator more the more and the larger the Jobs, and so charge the
slower side for the benchmark's own polling.
"""

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "operator"))

import aiohttp.web  # noqa: E402
import kmock  # noqa: E402
from compat import Emulator, register_crds  # noqa: E402


# BENCH_HISTORY=1 makes kmock cheap enough that the operators, not the emulator, set the pace.
HISTORY = int(os.environ.get("BENCH_HISTORY", "10"))


class BenchEmulator(Emulator):
    jobs_created = 0
    last_job_at = 0.0  # time.monotonic(): the same clock in every process of this machine

    async def _handle(self, request):
        path, method = request.url.path, str(request.method).upper()
        if path == "/bench/jobs":
            return aiohttp.web.json_response({"count": self.jobs_created, "last": self.last_job_at})
        if len(self._requests) > 2 * HISTORY:
            del self._requests[:-HISTORY]  # the current request stays last
        response = await super()._handle(request)
        if method.endswith("POST") and path.startswith("/apis/batch/v1/") and path.endswith("/jobs") \
                and 200 <= response.status < 300:
            self.jobs_created += 1
            self.last_job_at = time.monotonic()
        return response

    def _KubernetesEmulator__get_objs(self, request, strict):  # the name kmock's private method has
        if request.name is None or request.resource is None or (request.namespace is None and not strict):
            return super()._KubernetesEmulator__get_objs(request, strict)
        obj = self._objects._objects.get((request.resource, request.namespace, request.name))
        return [obj] if obj is not None else []


async def main(port: int) -> None:
    async with BenchEmulator() as emulator, kmock.Server(emulator, port=port) as server:
        register_crds(emulator)
        print(server.url, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
