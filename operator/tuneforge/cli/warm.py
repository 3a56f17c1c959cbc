"""Warm worker starts, the client's side (`tuneforge run`): `tuneforge warm SOCKET` (warm_server.py)
imports the worker's libraries once and forks a worker for each `tuneforge run` that asks on SOCKET
(TUNEFORGE_WARM names it).

A worker started fresh spends 6-10 s of CPU importing torch, transformers, peft and trl before its
first step; the test suite starts a few hundred of them on two cores. A forked worker starts with
those modules loaded and runs `python -m tuneforge.worker` from this checkout as a fresh one would:
its own argv, environment, working folder and standard streams, tuneforge's modules loaded anew.
Where a fork could behave otherwise, the warm process declines and the worker starts fresh: another
Python, a variable the libraries read at import set otherwise, or a job that needs bitsandbytes
(which a fresh worker without it never imports). Pods never use it; it is a tool for the suite.

The protocol, one connection per worker: the client sends a JSON request and its stdin, stdout and
stderr (SCM_RIGHTS); a handler forked for the connection answers one line, {"pid": N} or
{"declined": why}, then {"status": S, "maxrss": KB} when the worker exits. A client that goes away
takes the worker with it, and so does a handler that dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
from dataclasses import dataclass
from typing import IO

from ..crash import STARTS_FRESH

ENV = "TUNEFORGE_WARM"
WORKER = "tuneforge.worker"
# Variables a library may read while it is imported (a fork would keep the warm process's reading).
IMPORT_TIME = ("OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_", "DS_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_",
               "DATASETS_", "TORCH", "PYTORCH_", "CUDA_", "NVIDIA_", "ACCELERATE_", "TOKENIZERS_", "PYTHON",
               "LD_", "GGML_", "LLAMA_", "BNB_", "TRITON_", "XDG_", "HOME", "TMPDIR", "MLFLOW_")


def import_time(name: str) -> bool:
    return name.startswith(IMPORT_TIME)


def differences(wanted: dict[str, str], before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The import-time variables a request sets otherwise than the warm process had them when it
    imported; one the imports themselves set (llama.cpp's KMP_BLOCKTIME) counts as equal where the
    request leaves it out or has the imports' value."""
    out = []
    for name in sorted(n for n in {*wanted, *before} if import_time(n)):
        if wanted.get(name) == before.get(name):
            continue
        if name not in before and wanted.get(name, after.get(name)) == after.get(name):
            continue
        out.append(name)
    return out


@dataclass
class Started:
    """A worker the warm process forked: Popen's part that run_one uses."""

    pid: int
    stdout: IO[str]
    conn: socket.socket
    pidfd: int
    log: IO[str]

    def wait(self) -> tuple[int, int | None]:
        """(exit code as Popen gives it, peak RSS in bytes)."""
        reply = self.conn.makefile("r").readline()
        try:
            if reply:
                done = json.loads(reply)
                return os.waitstatus_to_exitcode(done["status"]), done["maxrss"] * 1024
            # The handler died, and with it (PR_SET_PDEATHSIG) the worker; make sure of it.
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.log.write(f"tuneforge: the warm process's handler for worker {self.pid} died, which killed the "
                           f"worker; run it again without {ENV}\n")
            self.log.flush()
            return -signal.SIGKILL, None
        finally:
            self.stdout.close()
            self.conn.close()
            os.close(self.pidfd)


def start(cmd: list[str], env: dict[str, str], log: IO[str]) -> Started | None:
    """The worker `cmd` forked by the warm process at env[ENV], or None (the reason in `log`)."""
    address = env.get(ENV)
    if not address or len(cmd) < 3 or cmd[1] != "-m":
        return None
    request = {"python": cmd[0], "argv": cmd[2:], "env": env, "cwd": os.getcwd()}
    read, write = os.pipe()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address)
        fds = array.array("i", [0, write, log.fileno()])  # fd 0 as a child inherits it
        conn.sendmsg([json.dumps(request).encode() + b"\n"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        answer = json.loads(conn.makefile("r").readline() or '{"declined": "no answer"}')
    except (OSError, ValueError) as exc:
        answer = {"declined": f"cannot reach it at {address} ({exc})"}
    finally:
        os.close(write)
    if "pid" not in answer:
        conn.close()
        os.close(read)
        log.write(f"tuneforge: the warm process declined: {answer['declined']}{STARTS_FRESH}\n")
        log.flush()
        return None
    return Started(answer["pid"], os.fdopen(read, "r"), conn, os.pidfd_open(answer["pid"]), log)
