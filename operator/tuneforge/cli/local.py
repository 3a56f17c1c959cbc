"""Local runs (`tuneforge run`): each document through the real worker in a child process.

The worker is the same program a pod runs; this side reads its progress protocol to draw a
progress bar, keeps its log next to the output, and resolves `fromJob` to earlier outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..api.manifest import Document
from ..contract import OUTPUT_RECORD
from ..cpus import thread_env
from ..worker.progress import parse_line


@dataclass
class Outcome:
    name: str
    kind: str
    code: int
    seconds: float
    output: Path
    log: Path
    result: dict[str, Any] | None
    peak_rss: int | None = None  # bytes, the worker and the children it waited for


def _has_cuda() -> bool:
    return Path("/dev/nvidia0").exists() or bool(os.environ.get("NVIDIA_VISIBLE_DEVICES"))


def resolve_from_job(raw: dict[str, Any], done: dict[tuple[str, str], Path]) -> list[str]:
    """Point every fromJob source at the output of an earlier document; return what is missing."""
    missing = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("fromJob")
            if isinstance(ref, dict):
                key = (ref.get("kind"), ref.get("name"))
                if key in done:
                    record = json.loads((done[key] / OUTPUT_RECORD).read_text())
                    model = record["artifacts"].get("model", ".")
                    node.pop("fromJob")
                    node["uri"] = f"file://{(done[key] / model).resolve()}"
                else:
                    missing.append(f"{key[0]}/{key[1]}")
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(raw.get("spec"))
    return missing


def worker_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment a local worker gets: the caller's, one thread per usable core unless the user
    chose (tuneforge/cpus.py), DeepSpeed told which accelerator it has (it picks one at import)."""
    env = dict(base)
    env.update(thread_env(env))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("DS_ACCELERATOR", "cpu" if not _has_cuda() else "cuda")
    return env


class _Fresh:
    """The worker as a new process (Popen's part that run_one uses, as warm.Started has it)."""

    def __init__(self, cmd: list[str], env: dict[str, str], log) -> None:
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout

    def wait(self) -> tuple[int, int]:
        # wait4, not wait: the kernel's account of the worker's peak memory explains a SIGKILL.
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = code = os.waitstatus_to_exitcode(status)
        return code, usage.ru_maxrss * 1024


@contextmanager
def _start(cmd: list[str], env: dict[str, str], log) -> Iterator[_Fresh | Any]:
    """The worker forked by the warm process where TUNEFORGE_WARM names one (the suite's starts,
    tuneforge/cli/warm.py), else a fresh process."""
    from . import warm

    # torchrun's workers start fresh: its launcher forks them itself.
    proc = warm.start(cmd, env, log) if env.get(warm.ENV) and cmd[1:3] == ["-m", warm.WORKER] else None
    if proc is None:
        fresh = _Fresh(cmd, env, log)
        with fresh.proc:
            yield fresh
    else:
        try:
            yield proc
        finally:  # the handler kills a worker whose client stopped listening
            proc.stdout.close()
            proc.conn.close()


def worker_command(resource, spec_file: str, output: Path | None, processes: int) -> list[str]:
    """The worker as a pod runs it: plain python, or torchrun for several local processes and where the
    backend's plan launches even one process with it (DeepSpeed)."""
    from ..backends import backend_for

    worker = ["-m", "tuneforge.worker", "--spec", spec_file, *(["--output", str(output)] if output else [])]
    # Locally `processes` takes the place of the spec's GPUs and nodes: ask the plan about one process.
    one = resource.spec.resources.model_copy(update={"gpus": min(resource.spec.resources.gpus, 1), "nodes": 1})
    alone = backend_for(resource).plan(resource.spec.model_copy(update={"resources": one}))
    if processes > 1 or alone.launcher == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *worker]
    return [sys.executable, *worker]


def progress_bar(desc: str = "") -> tqdm:
    """A job's bar; `leave=False` erases it at the end, where the job's summary takes its place."""
    return tqdm(total=None, desc=desc, unit="step", dynamic_ncols=True, leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")


def run_one(doc: Document, output: Path, verbose: bool = False, processes: int = 1, bar: tqdm | None = None,
            label: str = "", publish: bool = False) -> Outcome:
    """Run one document; with `publish` the worker writes to its own staging folder (`output`) and
    uploads to the spec's s3:// or hf:// output, as it does in a pod."""
    resource = doc.resource
    assert resource is not None
    output.parent.mkdir(parents=True, exist_ok=True)
    log_path = output.parent / f"{output.name}.log"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(doc.raw, handle)
        spec_file = handle.name
    env = worker_env(os.environ)
    cmd = worker_command(resource, spec_file, None if publish else output, processes)
    started = time.monotonic()
    result = None
    peak_rss = None
    own_bar = bar is None
    bar = progress_bar(f"{label}{resource.kind}/{resource.metadata.name}") if bar is None else bar
    bar.reset(total=None)
    bar.set_postfix_str("", refresh=False)
    bar.set_description_str(f"{label}{resource.kind}/{resource.metadata.name}", refresh=False)
    try:
        with open(log_path, "w") as log, _start(cmd, env, log) as proc:
            for line in proc.stdout:
                event = parse_line(line.rstrip("\n"))
                if event is None:
                    log.write(line)
                    log.flush()
                    if verbose:
                        bar.write(line.rstrip("\n"))
                    continue
                kind, data = event
                if kind == "progress":
                    if data.get("totalSteps") and bar.total != data["totalSteps"]:
                        bar.total = data["totalSteps"]
                    bar.n = data.get("step", bar.n)
                    if data.get("loss") is not None:
                        bar.set_postfix_str(f"loss={data['loss']:.3f}", refresh=False)
                    elif data.get("stage"):
                        bar.set_postfix_str(str(data["stage"]), refresh=False)
                    bar.refresh()
                elif kind == "result":
                    result = data
            code, peak_rss = proc.wait()
    finally:
        if own_bar:
            bar.close()
        os.unlink(spec_file)
    return Outcome(resource.metadata.name, resource.kind, code, time.monotonic() - started, output, log_path, result,
                   peak_rss)
