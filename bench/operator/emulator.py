"""kmock's Kubernetes emulator (with the tests' compatibility layer) as a process of its own.

    python bench/operator/emulator.py PORT

Prints its URL when it is listening. Run apart from the operator so the operator's memory is its own.
kmock keeps every request for later assertions and matches each new request by scanning that
history, which makes thousands of resources quadratic; this process keeps only the recent history
(the same for both sides of the benchmark; the tests keep all of it).
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "operator"))

import kmock  # noqa: E402
from compat import Emulator, register_crds  # noqa: E402


HISTORY = 10


class BenchEmulator(Emulator):
    async def _handle(self, request):
        if len(self._requests) > 2 * HISTORY:
            del self._requests[:-HISTORY]  # the current request stays last
        return await super()._handle(request)


async def main(port: int) -> None:
    async with BenchEmulator() as emulator, kmock.Server(emulator, port=port) as server:
        register_crds(emulator)
        print(server.url, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
