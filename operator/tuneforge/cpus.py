"""How many threads a worker's math libraries use: one per core this process may really use.

torch and OpenMP count the machine's cores. In a container or a CI job limited by a cgroup CPU quota
that is far more threads than the quota runs, and on a laptop with SMT two threads of one core
contend for one set of vector units. Measured on 2-core machines (bench/threads): one thread per
usable core beats one thread by about 1.2x for the quickstart (bench/README.md).
`OMP_NUM_THREADS`, when set, always wins.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .contract import CPU_LIMIT_ENV


def affinity() -> set[int]:
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """CPUs allowed by a cgroup v2 `cpu.max` quota (rounded up), or None without one."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def physical_cores(cpus: set[int], sysfs: Path = Path("/sys/devices/system/cpu")) -> int | None:
    """Distinct cores among `cpus` (SMT siblings count once), or None where sysfs does not say."""
    cores = set()
    for cpu in cpus:
        try:
            cores.add((sysfs / f"cpu{cpu}" / "topology" / "core_cpus_list").read_text().strip())
        except OSError:
            try:
                cores.add((sysfs / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text().strip())
            except OSError:
                return None
    return len(cores) or None


def pod_limit() -> int | None:
    """A worker pod's CPU limit, as the operator passes it (contract.CPU_LIMIT_ENV): the cgroup's
    quota, which a container on cgroup v1 (or without its own cgroup namespace) cannot read."""
    try:
        return max(1, int(os.environ[CPU_LIMIT_ENV]))
    except (KeyError, ValueError):
        return None


def usable_cores() -> int:
    cpus = affinity()
    return max(1, min(len(cpus), cgroup_quota() or len(cpus), physical_cores(cpus) or len(cpus), pod_limit() or len(cpus)))


def worker_threads() -> int:
    """The user's OMP_NUM_THREADS, else one per usable core."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return usable_cores()


def thread_env(environ: dict[str, str]) -> dict[str, str]:
    """Thread variables for a worker started with `environ`: the user's own are kept as they are."""
    if "OMP_NUM_THREADS" in environ:
        return {}
    n = str(usable_cores())
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": environ.get("MKL_NUM_THREADS", n)}
