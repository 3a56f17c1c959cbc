"""The warm process, `tuneforge warm SOCKET` (the protocol and the client: warm.py): the worker's
libraries imported once, a handler forked for each connection, and from it the worker."""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import IO

import click

from . import main
from .warm import WORKER, differences

# What the worker's libraries import for a plain run: fine-tuning, GGUF and merges.
# deepspeed too: its import sets PYTORCH_NVML_BASED_CUDA_CHECK, so a caller that imported it (a test
# process) asks with that variable set, which counts as equal only where this process's imports set it.
PRELOAD = ("torch", "transformers", "transformers.trainer", "peft", "trl", "datasets", "accelerate", "deepspeed",
           "mergekit.merge", "gguf", "llama_cpp")
PR_SET_PDEATHSIG = 1


class Warm:
    def __init__(self, modules: tuple[str, ...], say: IO[str]):
        self.modules = modules
        self.say = say
        self.cwd = os.getcwd()
        from .local import worker_env

        # The environment `tuneforge run` gives a worker, before anything reads it at import.
        os.environ.update(worker_env(os.environ))
        self.before = dict(os.environ)
        # A fresh worker of a job without bitsandbytes never imports it (backends/finetune/run.py).
        sys.modules.setdefault("bitsandbytes", None)  # type: ignore[arg-type]
        for module in modules:
            try:
                __import__(module)
            except Exception as exc:  # a worker that needs it reports the failure itself, fresh or forked
                print(f"warm: {module} not preloaded ({type(exc).__name__}: {exc})", file=say, flush=True)
        self.after = dict(os.environ)

    def serve(self, address: str, until_stdin_closes: bool) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            Path(address).unlink(missing_ok=True)
            server.bind(address)
        except OSError as exc:  # a missing folder, a path over the 107 bytes a socket's may have
            raise click.ClickException(f"cannot listen on {address}: {exc.strerror or exc}") from None
        server.listen(16)
        signal.signal(signal.SIGCHLD, lambda *_: self.reap())
        print(f"warm: ready on {address} ({', '.join(m for m in self.modules if m in sys.modules)})",
              file=self.say, flush=True)
        watched = [server, sys.stdin] if until_stdin_closes else [server]
        while True:
            ready, _, _ = select.select(watched, [], [])
            if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
                Path(address).unlink(missing_ok=True)
                return
            if server in ready:
                conn, _ = server.accept()
                if os.fork() == 0:
                    server.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    code = 1
                    try:
                        self.handle(conn)
                        code = 0
                    except BaseException:
                        import traceback

                        traceback.print_exc(file=self.say)
                    finally:
                        os._exit(code)
                conn.close()

    @staticmethod
    def reap() -> None:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass

    def handle(self, conn: socket.socket) -> None:
        message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        while message and not message.endswith(b"\n"):  # a stream: the rest of a long request
            more = conn.recv(1 << 20)
            if not more:
                break
            message += more
        request = json.loads(message)
        why = self.refusal(request)
        if why:
            print(f"warm: declined a worker in {request['cwd']}: {why}", file=self.say, flush=True)
            conn.sendall(json.dumps({"declined": why}).encode() + b"\n")
            return
        pid = os.fork()
        if pid == 0:
            self.become_worker(conn, fds, request)
        for fd in fds:
            os.close(fd)
        print(f"warm: forked worker {pid} in {request['cwd']}", file=self.say, flush=True)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        pidfd = os.pidfd_open(pid)
        ready, _, _ = select.select([conn, pidfd], [], [])
        if pidfd not in ready:  # the client went away (killed, interrupted): its worker goes too
            os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        try:
            conn.sendall(json.dumps({"status": status, "maxrss": usage.ru_maxrss}).encode() + b"\n")
        except OSError:
            pass

    def refusal(self, request: dict) -> str | None:
        if request["python"] != sys.executable:
            return f"it runs {sys.executable}, the worker wants {request['python']}"
        if request["argv"][0] not in WORKERS:
            return f"it starts only {', '.join(sorted(WORKERS))}"
        changed = differences(request["env"], self.before, self.after)
        if changed:
            return f"{', '.join(changed)} set otherwise than when it imported the libraries"
        return needs_bitsandbytes(request["argv"], request["cwd"])

    def become_worker(self, conn: socket.socket, fds: list[int], request: dict) -> None:
        code = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() == 1:  # the handler died before the prctl
                os._exit(137)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            conn.close()
            # As a fresh interpreter has them.
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            os.chdir(request["cwd"])
            if sys.path and sys.path[0] == self.cwd:  # `python -m` puts its working folder first
                sys.path[0] = request["cwd"]
            os.environ.clear()
            os.environ.update(request["env"])
            fresh_state()
            sys.argv = list(request["argv"])
            import runpy

            try:
                runpy.run_module(request["argv"][0], run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)


# The modules a warm process forks; tests add their own (tests/support/warm_probe.py).
WORKERS = {WORKER}


def needs_bitsandbytes(argv: list[str], cwd: str) -> str | None:
    """A job that imports bitsandbytes (QLoRA, its optimizers) starts fresh: the warm process ran
    its imports with bitsandbytes hidden, as a fresh worker of any other job does."""
    if "--spec" not in argv:
        return None
    from ..api.manifest import load_file

    try:
        docs = load_file(str(Path(cwd) / argv[argv.index("--spec") + 1]))
        uses = getattr(getattr(docs[0].resource, "spec", None), "uses_bitsandbytes", None)
        return "the job needs bitsandbytes" if uses and uses() else None
    except Exception:  # the worker itself reports a spec it cannot read
        return None


def fresh_state() -> None:
    """What a fresh interpreter would not share with its siblings: tuneforge's modules (this
    checkout's code, loaded anew), the random generators' seeds."""
    for name in [n for n in sys.modules if n == "tuneforge" or n.startswith("tuneforge.")]:
        del sys.modules[name]
    import random

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    # torch's default generator starts from a fixed seed in every process, forked or not.


@main.command("warm")
@click.argument("socket_path", metavar="SOCKET")
@click.option("--until-stdin-closes", is_flag=True, help="Exit when standard input closes (the caller's end).")
@click.option("--preload", default=",".join(PRELOAD), show_default=True, help="Modules to import once, comma-separated.")
@click.option("--module", "modules", multiple=True, help="Another module it may fork besides tuneforge.worker.")
def warm(socket_path: str, until_stdin_closes: bool, preload: str, modules: tuple[str, ...]) -> None:
    """Fork workers with their libraries already imported, for `tuneforge run` with TUNEFORGE_WARM=SOCKET
    (the test suite's starts; pods always start fresh)."""
    WORKERS.update(modules)
    started = time.monotonic()
    warm_process = Warm(tuple(m for m in preload.split(",") if m), sys.stderr)
    print(f"warm: imported in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    warm_process.serve(socket_path, until_stdin_closes)
