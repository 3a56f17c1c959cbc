"""Measurements only a gate asks for: exact-match accuracy of a fine-tuned model on prompts with
reference answers, and the perplexity of a model folder on a text set (transformers, CPU or GPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .quality import Scores, token_chunks

CHUNK = 512


def correct(said: str, answer: str) -> bool:
    """The rule GRPO's rewards use: the answer ends with the reference as a whole word (case, spacing
    and final punctuation aside), or its last number equals the reference number ('23 - 20 = 3.')."""
    from .finetune.rewards import exact_match, numeric_match

    return bool(exact_match(said, answer) or numeric_match(said, answer))


def _load_for_generation(output: Path, artifacts: dict[str, str]):
    """The fine-tune's model: its full or merged model where there is one, else base + adapter."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if "model" in artifacts:
        folder = output / artifacts["model"]
        return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    from peft import AutoPeftModelForCausalLM

    folder = output / artifacts["adapter"]
    return AutoPeftModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def exact_match(settings, output: Path, artifacts: dict[str, str]) -> tuple[float, list[dict[str, Any]]]:
    """(accuracy, the answers): greedy answers to the first maxRows prompts, each judged by correct()."""
    import torch

    from .. import sources
    from .common.rows import load_rows

    rows = load_rows(sources.resolve_dataset(settings.dataset), "verifiable", settings.dataset.uri, seed=0,
                     field="gate.exactMatch.dataset", columns=settings.dataset.columns)
    rows = rows.select(range(min(settings.max_rows, len(rows))))
    model, tokenizer = _load_for_generation(output, artifacts)
    answers, right = [], 0
    for row in rows:
        messages = row["prompt"] if isinstance(row["prompt"], list) else [{"role": "user", "content": row["prompt"]}]
        prompt = messages[-1]["content"]
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=settings.max_new_tokens, do_sample=False)
        text = tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        ok = correct(text, str(row["answer"]))
        right += ok
        answers.append({"prompt": prompt, "answer": str(row["answer"]), "said": text, "correct": ok})
    return round(right / max(len(rows), 1), 4), answers


def perplexity(model_dir: Path, dataset, max_tokens: int) -> float | None:
    """Perplexity on the dataset's text, in chunks of 512 tokens scored on their second half (as the
    quantization reports measure it), or None when the text is shorter than one chunk."""
    from transformers import AutoTokenizer

    from .common.rows import text_rows
    from .hf_quality import load, logprobs_of

    text = "\n\n".join(text_rows(dataset, "gate.dataset"))
    ids = AutoTokenizer.from_pretrained(model_dir)(text, add_special_tokens=False)["input_ids"]
    chunks = token_chunks(ids, min(CHUNK, max_tokens), max_tokens)
    if not chunks:
        return None
    logprobs = logprobs_of(load(model_dir))
    scores = Scores()
    for chunk in chunks:
        scores.add(logprobs(chunk), chunk)
    return scores.summary(with_reference=False)["perplexity"]
