"""The progress protocol between a worker and whoever watches it (the operator, `tuneforge run`).

A worker writes one line per event on stdout:

    ::tuneforge::progress {"step": 12, "totalSteps": 30, "loss": 1.31, ...}
    ::tuneforge::result {"uri": "...", "files": 9, "totalBytes": 123, "finalLoss": 1.02}

Progress lines are rate-limited (at most one per `interval` seconds, the last step always sent).
The result line is also written to the container's termination message file, so the operator can
read the outcome from the Pod status without access to logs. Every other stdout line is free text.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

PREFIX = "::tuneforge::"
TERMINATION_LOG = "/dev/termination-log"
# Kubernetes keeps at most 4096 bytes of a termination message.
TERMINATION_LIMIT = 4096


def human_eta(seconds: float | None) -> str | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


@dataclass
class Reporter:
    """Emits progress and the final result in the protocol's format."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    interval: float = 2.0
    termination_log: str = TERMINATION_LOG
    output_uri: str | None = None
    """Where the result is published (the spec's URI, or the local folder): what the result reports,
    and what a tracking server is told."""
    context: dict[str, Any] = field(default_factory=dict)
    """Values every later progress event carries (a resumed run's checkpoint and restarts), so the
    status keeps them whichever event it read last."""
    _last: float = field(default=float("-inf"), init=False)
    _started: float = field(default_factory=time.monotonic, init=False)

    def progress(self, step: int, total: int | None, force: bool = False, **values: Any) -> None:
        now = time.monotonic()
        final = total is not None and step >= total
        if not (force or final) and now - self._last < self.interval:
            return
        self._last = now
        event: dict[str, Any] = {"step": step, "totalSteps": total}
        if total:
            event["percent"] = int(100 * step / total)
            if step > 0:
                eta = (now - self._started) / step * (total - step)
                event["etaSeconds"] = int(eta)
                event["eta"] = human_eta(eta)
        event.update(self.context)
        event.update({k: v for k, v in values.items() if v is not None})
        self._emit("progress", event)

    def result(self, summary: dict[str, Any]) -> None:
        line = self._emit("result", summary)
        # In a pod the kubelet creates the file, writable by the container's user, in a folder (/dev)
        # that user cannot write: what matters is the file. Outside a pod there is usually no such file.
        path = self.termination_log
        folder = os.path.dirname(path) or "."
        if os.access(path, os.W_OK) if os.path.exists(path) else os.access(folder, os.W_OK):
            try:
                with open(path, "w") as handle:
                    handle.write(line[:TERMINATION_LIMIT])
            except OSError:
                pass

    def _emit(self, kind: str, payload: dict[str, Any]) -> str:
        line = f"{PREFIX}{kind} {json.dumps(payload, separators=(',', ':'))}"
        self.out.write(line + "\n")
        self.out.flush()
        return line


def parse_line(line: str) -> tuple[str, dict[str, Any]] | None:
    """('progress' | 'result', payload) for a protocol line, None for anything else."""
    if not line.startswith(PREFIX):
        return None
    kind, _, payload = line[len(PREFIX):].partition(" ")
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        return None
    return (kind, data) if isinstance(data, dict) else None
