"""What llama.cpp did instead of the asked type: K-quants need rows that are a multiple of 256, so
on a model 576 wide most tensors "fall back" to q4_0, q5_0, ... and several types come out alike.
llama.cpp says so only in its log, which goes straight to file descriptor 2; it is read back here."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_TENSOR = re.compile(r"falling back to\s+(\S+)")
_SUMMARY = re.compile(r"(\d+) of (\d+) tensor\(s\) required fallback quantization")


@contextmanager
def stderr_lines() -> Iterator[list[str]]:
    """The lines written to fd 2 (by C code too) inside the block, passed on to the real stderr after it."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            scratch.seek(0)
            text = scratch.read().decode(errors="replace")
            sys.stderr.write(text)
            sys.stderr.flush()
            lines.extend(text.splitlines())


def parse(lines: list[str]) -> dict[str, Any]:
    """{"tensors": N, "of": M, "to": {type: count}}; N = 0 when every tensor got the asked type."""
    to = Counter(m.group(1).lower() for line in lines if (m := _TENSOR.search(line)))
    summary = next((m for line in lines if (m := _SUMMARY.search(line))), None)
    tensors, total = (int(summary.group(1)), int(summary.group(2))) if summary else (sum(to.values()), None)
    return {"tensors": tensors, "of": total, "to": dict(sorted(to.items()))}


def alike(rows: list[dict[str, Any]]) -> None:
    """Mark types whose files measure exactly alike (same size, perplexity, top-1 and KL) as such:
    on this model the report cannot tell them apart, and says so instead of ranking them."""
    keys = ("sizeBytes", "perplexity", "top1Agreement", "klDivergence")
    groups: dict[tuple, list[str]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(row["type"])
    for row in rows:
        same = [t for t in groups[tuple(row.get(k) for k in keys)] if t != row["type"]]
        if same:
            row["indistinguishableFrom"] = same
