"""Quality and a sample generation of GGUF files, read back with llama.cpp (llama_cpp.Llama)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...sources.cache import locked
from ..quality import ReferenceTable, log_softmax, scored, token_chunks
from ..sampling import SAMPLE_PROMPT
from . import shared
from .quantize import threads


def load(path: Path, n_ctx: int):
    import llama_cpp

    return llama_cpp.Llama(model_path=str(path), n_ctx=max(n_ctx, 512), n_batch=max(n_ctx, 512), logits_all=True,
                           n_threads=threads(), verbose=False)


def tokens(path: Path, text: str) -> list[int]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    return llm.tokenize(text.encode(), add_bos=False, special=False)


def logprobs_of(llm):
    def logprobs(chunk: list[int]) -> np.ndarray:
        llm.reset()
        llm.eval(chunk)
        return log_softmax(np.asarray(llm.scores[scored(len(chunk))]))
    return logprobs


def generate(llm, prompt: str = SAMPLE_PROMPT, max_tokens: int = 24) -> str:
    llm.reset()
    out = llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
                                     temperature=0.0, seed=0)
    return out["choices"][0]["message"]["content"].strip()


def reference(base: Path, chunks: list[list[int]], key: tuple[str, int, int, bool]) -> tuple[ReferenceTable, dict[str, Any]]:
    """The unquantized model's table and summary on these chunks: measured once per model and evaluation
    (gguf/shared.py), under a lock, and reused by every later job."""
    text, chunk_size, max_tokens, sample = key
    table_path, summary_path = shared.reference_paths(base, text, chunk_size, max_tokens, sample)
    with locked(table_path):
        if summary_path.exists():
            return ReferenceTable.load(chunks, table_path), {**json.loads(summary_path.read_text()), "fromCache": True}
        partial = table_path.with_name(table_path.stem + ".partial.npy")
        llm = load(base, chunk_size)
        table = ReferenceTable(chunks, logprobs_of(llm), partial)
        summary = table.summary()
        if sample:
            summary["sample"] = generate(llm)
        del llm
        if table.table is not None:
            table.table.flush()
            os.replace(partial, table_path)
        shared.save_summary(summary_path, summary)
        return table, {**summary, "fromCache": False}


def measure_all(base: Path, files: dict[str, Path], text: str, chunk_size: int, max_tokens: int,
                sample: bool = True, on_file=None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(reference summary, {type: summary}) for every file, all on the same tokens."""
    chunks = token_chunks(tokens(base, text), chunk_size, max_tokens) if text else []
    table, ref_summary = reference(base, chunks, (text, chunk_size, max_tokens, sample))
    results = {}
    for i, (name, path) in enumerate(files.items()):
        llm = load(path, chunk_size)
        results[name] = table.measure(logprobs_of(llm))
        if sample:
            results[name]["sample"] = generate(llm)
        del llm
        if on_file:
            on_file(i + 1, len(files))
    return ref_summary, results
