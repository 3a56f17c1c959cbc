"""The tuneforge operator against a bare kopf floor: N FineTuneJobs -> N Jobs, on a real kube-apiserver
(`--server real`: etcd and kube-apiserver built from their Go modules, bench/operator/real_server.py)
or on kmock's emulator (`--server emulator`, the default).

    $(scripts/env.sh operator)/bin/python bench/operator/bench.py [--server real] [--resources 1000] [--rounds 2] [--sides ...]

For each side, in turn and in a fresh operator process: start the operator, POST N FineTuneJobs,
and time from the first POST until N Jobs exist. The emulator is a fresh process per run; the real
server is one for the whole run, emptied between runs. The operator's peak RSS is VmHWM from /proc.
Sides:

- floor: `kopf run bench/operator/floor.py`, a bare kopf handler that only creates a Job;
- tuneforge: `tuneforge operator -A` (validation, planning, the Job, one status PATCH with kstatus
  conditions and kopf's state, and a JobCreated Event);
- floor-event (not run by default): the floor plus one Event per resource;
- tuneforge-no-events (not run by default): tuneforge with Event posting switched off.

The goal is tuneforge at most 1.3x the floor's wall time and at most 150 MB RSS; the other two
sides show how much of the difference is the Event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
API = "/apis/tuneforge.io/v1alpha1/namespaces/default/finetunejobs"
SIDES = ("floor", "tuneforge", "floor-event", "tuneforge-no-events")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resource(i: int) -> dict:
    return {"apiVersion": "tuneforge.io/v1alpha1", "kind": "FineTuneJob",
            "metadata": {"name": f"r{i:04d}", "namespace": "default"},
            "spec": {"method": "lora", "model": {"uri": "builtin://smollm2-135m-instruct"},
                     "dataset": {"uri": "builtin://chat-mini", "format": "chat"},
                     "output": {"uri": f"pvc://outputs/bench/r{i:04d}"}}}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def drive(url: str, count: int, timeout: float) -> float:
    async with aiohttp.ClientSession(base_url=url) as session:
        started = time.monotonic()
        sem = asyncio.Semaphore(20)

        async def post(i: int) -> None:
            async with sem, session.post(API, json=resource(i)) as resp:
                assert resp.status in (200, 201), await resp.text()

        await asyncio.gather(*(post(i) for i in range(count)))
        while True:
            async with session.get("/bench/jobs") as resp:
                jobs = await resp.json(content_type=None)
            if jobs["count"] >= count:
                return jobs["last"] - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{jobs['count']} of {count} Jobs after {timeout:.0f} s")
            await asyncio.sleep(0.2)


def operator_command(side: str) -> list[str]:
    if side in ("floor", "floor-event"):
        return [sys.executable, "-m", "kopf", "run", str(HERE / "floor.py"), "--standalone", "--all-namespaces"]
    if side == "tuneforge-no-events":
        return [sys.executable, "-m", "kopf", "run", str(HERE / "no_events.py"), "--standalone", "--all-namespaces"]
    return [sys.executable, "-m", "tuneforge.cli", "operator", "--all-namespaces"]


def start_operator(side: str, env: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'operator'}:{os.environ.get('PYTHONPATH', '')}", **env,
           "TUNEFORGE_METRICS_PORT": str(free_port()),  # a leftover operator must not make this one wait for its port
           "FLOOR_EVENT": "1" if side == "floor-event" else "0"}
    operator = subprocess.Popen(operator_command(side), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)  # the operator lists and starts watching
    return operator


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


def one_real(server, side: str, count: int, timeout: float) -> tuple[float, float]:
    operator = start_operator(side, server.env())
    try:
        seconds = asyncio.run(server.drive([resource(i) for i in range(count)], timeout))
        print(f"  {side}: operator CPU {cpu_seconds(operator.pid):.1f} s", file=sys.stderr)
        return seconds, peak_rss_mib(operator.pid)
    finally:
        stop(operator)
        asyncio.run(server.clear())


def one(side: str, count: int, timeout: float) -> tuple[float, float]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'operator'}:{os.environ.get('PYTHONPATH', '')}")
    emulator = subprocess.Popen([sys.executable, *(os.environ.get("BENCH_EMULATOR") or str(HERE / "emulator.py")).split(), str(port)], stdout=subprocess.PIPE,
                                text=True, env=env)
    url = emulator.stdout.readline().strip().rstrip("/")
    kubeconfig = Path(f"/tmp/bench-operator-{port}.kubeconfig")
    kubeconfig.write_text(f"apiVersion: v1\nkind: Config\nclusters: [{{name: e, cluster: {{server: '{url}'}}}}]\n"
                          "users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: e, user: u}}]\n"
                          "current-context: c\n")
    operator = start_operator(side, {"TUNEFORGE_KUBE_SERVER": url, "KUBECONFIG": str(kubeconfig)})
    try:
        seconds = asyncio.run(drive(url, count, timeout))
        print(f"  {side}: operator CPU {cpu_seconds(operator.pid):.1f} s, emulator CPU {cpu_seconds(emulator.pid):.1f} s",
              file=sys.stderr)
        return seconds, peak_rss_mib(operator.pid)
    finally:
        stop(operator)
        emulator.terminate()
        print(emulator.stdout.read()[-6000:], file=sys.stderr) if os.environ.get("BENCH_EMULATOR") else None
        emulator.wait(30)
        kubeconfig.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=("emulator", "real"), default="emulator")
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--sides", default="floor,tuneforge",
                        help=f"comma-separated, from {','.join(SIDES)}; each ratio is against the first")
    args = parser.parse_args()
    sides = args.sides.split(",")
    if unknown := set(sides) - set(SIDES):
        parser.error(f"unknown side(s) {', '.join(sorted(unknown))}; choose from {', '.join(SIDES)}")
    results: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
    server = None
    if args.server == "real":
        from real_server import Server
        server = Server(Path(tempfile.mkdtemp(prefix="bench-operator-")))
    try:
        for _ in range(args.rounds):
            for side in sides:
                run = one(side, args.resources, args.timeout) if server is None else one_real(server, side, args.resources, args.timeout)
                results[side].append(run)
                print(side, f"{run[0]:.1f} s, {run[1]:.0f} MiB", flush=True)
    finally:
        if server is not None:
            server.stop()
    base = sides[0]
    for side in sides:
        wall = median(w for w, _ in results[side])
        rss = median(m for _, m in results[side])
        line = f"{args.resources} resources -> Jobs ({args.server} server): {side} {wall:.1f} s ({rss:.0f} MiB peak RSS)"
        if side != base:
            # Each round runs every side back to back: the median of the rounds' ratios resists a slow
            # spell of the shared machine better than the ratio of the medians (both are printed).
            paired = median(s / b for (s, _), (b, _) in zip(results[side], results[base], strict=True))
            line += (f" | {paired:.2f}x {base} (median of the rounds' ratios; ratio of medians "
                     f"{wall / median(w for w, _ in results[base]):.2f}x)")
        print(line)


if __name__ == "__main__":
    main()
