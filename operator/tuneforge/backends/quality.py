"""Quality of a quantized model against its unquantized reference, on the same tokens.

Every backend feeds logits chunk by chunk (llama.cpp for GGUF, transformers for AWQ/GPTQ); this
module turns them into perplexity, top-1 agreement and KL divergence, and draws the size/quality plot.
As llama-perplexity does, only the second half of each chunk is scored, so every scored token has
at least half a chunk of context.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PLOT_FILE = "quality.png"


def token_chunks(ids: list[int], size: int, max_tokens: int) -> list[list[int]]:
    ids = ids[:max_tokens]
    return [ids[i:i + size] for i in range(0, len(ids) - size + 1, size)]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def scored(chunk_len: int) -> slice:
    """Positions whose prediction counts: the second half (each predicts the next token)."""
    return slice(chunk_len // 2, chunk_len - 1)


def scored_rows(logprobs: np.ndarray, chunk_len: int) -> np.ndarray:
    """The scored positions' rows, whether a backend gave every position or only those (cheaper: the
    log-softmax over the vocabulary, and the reference table, for half the chunk)."""
    return logprobs[scored(chunk_len)] if len(logprobs) == chunk_len else logprobs


@dataclass
class Scores:
    nll: float = 0.0
    agree: int = 0
    kl: float = 0.0
    tokens: int = 0

    def add(self, logprobs: np.ndarray, chunk: list[int], reference: np.ndarray | None = None) -> None:
        """logprobs: log-softmax of this model at every position of the chunk, or at the scored ones only;
        reference: the same for the unquantized one."""
        part = scored(len(chunk))
        lp = scored_rows(logprobs, len(chunk))
        targets = np.asarray(chunk)[part.start + 1: part.stop + 1]
        self.nll -= float(lp[np.arange(len(targets)), targets].sum())
        self.tokens += len(targets)
        if reference is not None:
            ref = scored_rows(reference, len(chunk)).astype(np.float32)
            self.agree += int((ref.argmax(-1) == lp.argmax(-1)).sum())
            self.kl += float((np.exp(ref) * (ref - lp)).sum())

    def summary(self, with_reference: bool) -> dict[str, float]:
        n = max(self.tokens, 1)
        found = {"perplexity": round(float(np.exp(self.nll / n)), 4), "tokens": self.tokens}
        if with_reference:
            found["top1Agreement"] = round(self.agree / n, 4)
            found["klDivergence"] = round(self.kl / n, 5)
        return found


class ReferenceTable:
    """The unquantized model's log-probabilities on every chunk, kept on disk (float16), for comparing outputs.

    `logprobs` maps a chunk of token ids to a log-softmax array of (len(chunk), vocab), or of the scored
    positions only (see `scored`).
    """

    def __init__(self, chunks: list[list[int]], logprobs, scratch: Path):
        self.chunks = chunks
        self.scores = Scores()
        self.table = None
        for i, chunk in enumerate(chunks):
            lp = logprobs(chunk)
            if self.table is None:
                self.table = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float16,
                                                       shape=(len(chunks), *lp.shape))
            self.table[i] = lp
            self.scores.add(lp, chunk)

    @classmethod
    def load(cls, chunks: list[list[int]], path: Path) -> ReferenceTable:
        """A table measured earlier (on the same chunks) and saved at `path`."""
        table = cls.__new__(cls)
        table.chunks, table.scores = chunks, Scores()
        table.table = np.load(path, mmap_mode="r") if chunks else None
        return table

    def summary(self) -> dict[str, Any]:
        return self.scores.summary(with_reference=False) if self.chunks else {}

    def measure(self, logprobs) -> dict[str, Any]:
        scores = Scores()
        for i, chunk in enumerate(self.chunks):
            scores.add(logprobs(chunk), chunk, self.table[i])
        return scores.summary(with_reference=True) if self.chunks else {}


def _fallback(row: dict[str, Any]) -> str:
    fb = row.get("fallback")
    if fb is None:
        return "?"
    if not fb["tensors"]:
        return "none"
    to = "+".join(fb["to"]) or "other"
    return f"{fb['tensors']}/{fb['of']} {to}" if fb.get("of") else f"{fb['tensors']} {to}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Plain-text table of a quality report, for `tuneforge run` and logs; below it, what the numbers
    cannot show: types that fell back to others, and types the measurement cannot tell apart."""
    fallbacks = any("fallback" in r for r in rows)
    head = f"{'type':<10} {'size MB':>9} {'bpw':>6} {'ppl':>9} {'top-1':>7} {'KL':>8}" + ("  fallback" if fallbacks else "")
    lines = [head]
    for r in rows:
        def fmt(key, spec):
            value = r.get(key)
            return format(value, spec) if isinstance(value, (int, float)) else "-"
        lines.append(f"{r['type']:<10} {r['sizeBytes'] / 1e6:>9.1f} {fmt('bitsPerWeight', '6.2f')} "
                     f"{fmt('perplexity', '9.3f')} {fmt('top1Agreement', '7.3f')} {fmt('klDivergence', '8.4f')}"
                     + (f"  {_fallback(r)}" if fallbacks else ""))
    if any((r.get("fallback") or {}).get("tensors") for r in rows):
        lines.append("fallback: tensors llama.cpp wrote in another type than asked (rows not a multiple of its "
                     "block size), of all tensors; such types measure like the type they fell back to")
    seen: set[str] = set()
    for r in rows:
        if r.get("indistinguishableFrom") and r["type"] not in seen:
            group = [r["type"], *r["indistinguishableFrom"]]
            seen.update(group)
            lines.append(f"{', '.join(group)}: indistinguishable here (same size, perplexity, top-1 and KL)")
    return lines


def plot(rows: list[dict[str, Any]], path: Path, title: str, reference: dict[str, Any] | None = None) -> Path | None:
    """Size against perplexity, one labelled point per output (and the reference as a line)."""
    points = [r for r in rows if isinstance(r.get("perplexity"), (int, float))]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    xs = [r["sizeBytes"] / 1e6 for r in points]
    ys = [r["perplexity"] for r in points]
    ax.scatter(xs, ys, color="tab:blue", zorder=3)
    # Types that produce the same file (K-quant fallbacks on small models) share one label.
    labels: dict[tuple[float, float], list[str]] = {}
    for r, x, y in zip(points, xs, ys):
        labels.setdefault((round(x, 1), round(y, 4)), []).append(r["type"])
    # Neighbours in size take turns above and below their point, so their labels do not overlap.
    offsets = [(4, 4), (4, -11)]
    for i, ((x, y), names) in enumerate(sorted(labels.items())):
        ax.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=offsets[i % 2], fontsize=8)
    if reference and isinstance(reference.get("perplexity"), (int, float)):
        ax.axhline(reference["perplexity"], color="tab:gray", linestyle="--", linewidth=1,
                   label=f"unquantized ({reference['perplexity']:.2f})")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("file size (MB)")
    ax.set_ylabel("perplexity (lower is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
