"""Why a worker died, in words: the signal's name and its likely cause, never a bare exit code.

Used where a worker's end is seen: `tuneforge run` (a child process: -N for a signal, torchrun's
report in the log) and the operator (a container: 128+N, or the kubelet's reason OOMKilled).
Pure standard library: the operator imports it.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable

# Local runs: what to do about a library built for instructions this machine lacks.
LOCAL_REBUILD = ("remove ~/.cache/tuneforge/wheels/llama-cpp-python-* and ~/.cache/tuneforge/venvs, then run "
                 "again: scripts/llama-cpp.sh builds for the instructions this machine executes")
IMAGE_REBUILD = ("use an image built without -march=native / GGML_NATIVE=ON, or run the job on nodes like the "
                 "one that built it (spec.scheduling.nodeSelector)")


def signal_of(code: int | None) -> int | None:
    """The signal that ended a process: -N from a parent's wait, 128+N from a shell or a container runtime."""
    if code is None or code == 0:
        return None
    if code < 0:
        return -code
    if 128 < code < 128 + 65:
        return code - 128
    return None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def human_bytes(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


# How `tuneforge run` notes a worker the warm process declined (cli/warm.py): not the worker's own output.
STARTS_FRESH = "; the worker starts fresh"


def explain_signal(number: int, *, rebuild: str = LOCAL_REBUILD, peak_rss: int | None = None,
                   memory: int | None = None, last_lines: Iterable[str] = ()) -> str:
    """One line: the signal's name and what most likely caused it."""
    name = signal_name(number)
    last = [line.strip() for line in last_lines
            if line.strip() and not line.rstrip().endswith(STARTS_FRESH)][-3:]
    tail = f"; last log lines: {' / '.join(last)}" if last else ""
    if number == signal.SIGILL:
        return (f"illegal instruction ({name}): a native library was built for CPU features this machine cannot run "
                f"(rebuild: {rebuild})")
    if number == signal.SIGKILL:
        used = ""
        if peak_rss:
            used = f" (peak RSS {human_bytes(peak_rss)}{f' of {human_bytes(memory)}' if memory else ''})"
        return (f"killed ({name}), most often by the kernel's out-of-memory killer{used}: lower training.batchSize "
                f"or training.maxLength, use method qlora, or give it more memory")
    if number == signal.SIGSEGV:
        return f"segmentation fault ({name}): a crash in a native library{tail}"
    if number == signal.SIGBUS:
        return (f"bus error ({name}): a memory-mapped file changed or shrank under the process, or shared memory "
                f"(/dev/shm) is too small{tail}")
    if number == signal.SIGABRT:
        return f"aborted ({name}): a native library stopped on a failed check{tail}"
    if number == signal.SIGFPE:
        return f"arithmetic fault ({name}) in a native library{tail}"
    if number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        return f"stopped from outside ({name}): interrupted, a deadline, or the node was drained"
    return f"killed by {name}{tail}"


# torchrun's report of a child that failed: "exitcode  : -4 (pid: 123)".
TORCHRUN_EXIT = re.compile(r"^\s*exitcode\s*:\s*(-?\d+)", re.M)
TORCHRUN_MARKERS = ("torch.distributed.elastic", "ChildFailedError")


def worker_error(log: str) -> str | None:
    """The worker's own last `error:` line, wherever a launcher's report buried it."""
    lines = [line.strip() for line in log.splitlines() if line.strip().startswith("error:")]
    return lines[-1] if lines else None


def launcher_signal(log: str) -> int | None:
    """The signal that killed a child of torchrun, from torchrun's report (torchrun itself exits 1)."""
    if not any(marker in log for marker in TORCHRUN_MARKERS):
        return None
    for match in TORCHRUN_EXIT.finditer(log):
        number = signal_of(int(match.group(1)))
        if number:
            return number
    return None


def without_launcher_report(lines: list[str]) -> list[str]:
    """Log lines up to torchrun's own failure report (its ChildFailedError traceback and framed summary),
    which repeats nothing the worker said and buries what it did."""
    ends = [i for i, line in enumerate(lines) if "ChildFailedError" in line]
    if not ends:
        return lines
    starts = [i for i, line in enumerate(lines[:ends[-1]]) if line.startswith("Traceback (most recent call last)")]
    cut = starts[-1] if starts else ends[-1]
    while cut > 0 and "elastic" in lines[cut - 1]:  # torchrun's log lines just before its traceback
        cut -= 1
    return lines[:cut]


def describe_exit(code: int, log: str = "", *, peak_rss: int | None = None, memory: int | None = None,
                  rebuild: str = LOCAL_REBUILD) -> str:
    """What ended a local worker, for `tuneforge run`: a signal in words, the worker's own error line, or the code."""
    number = signal_of(code) if code < 0 else None
    number = number or launcher_signal(log)
    if number:
        return explain_signal(number, rebuild=rebuild, peak_rss=peak_rss, memory=memory,
                              last_lines=log.splitlines()[-20:])
    own = worker_error(log)
    return own[len("error:"):].strip() if own else f"exit code {code}"
