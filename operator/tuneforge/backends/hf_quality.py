"""Quality of a quantized HF checkpoint (AWQ, GPTQ) against the model it came from, with transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .quality import ReferenceTable, log_softmax, scored, token_chunks


def logprobs_of(model):
    import torch

    device = next(model.parameters()).device

    def logprobs(chunk: list[int]):
        with torch.inference_mode():
            logits = model(torch.tensor([chunk], device=device)).logits[0]
        return log_softmax(logits[scored(len(chunk))].float().cpu().numpy())
    return logprobs


def load(path: Path):
    import torch
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto" if cuda else torch.float32,
                                                 device_map="cuda" if cuda else None)
    return model.eval()


def parameters(path: Path) -> int:
    model = load(path)
    return sum(p.numel() for p in model.parameters())


def reference_table(reference: Path, text: str, chunk_size: int, max_tokens: int,
                    scratch: Path) -> tuple[ReferenceTable, dict[str, Any]]:
    """The unquantized model's log-probabilities on the tokens of `text` (kept in `scratch`), and its
    summary with the parameter count; candidates are then measured against the table."""
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(reference)(text, add_special_tokens=False)["input_ids"]
    model = load(reference)
    table = ReferenceTable(token_chunks(ids, chunk_size, max_tokens), logprobs_of(model), scratch)
    summary = {**table.summary(), "parameters": sum(p.numel() for p in model.parameters())}
    del model
    return table, summary


def measure(reference: Path, candidate: Path, text: str, chunk_size: int, max_tokens: int,
            scratch: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(reference summary incl. parameter count, candidate summary) on the same tokens of `text`."""
    table, ref = reference_table(reference, text, chunk_size, max_tokens, scratch)
    found = table.measure(logprobs_of(load(candidate)))
    scratch.unlink(missing_ok=True)
    return ref, found
