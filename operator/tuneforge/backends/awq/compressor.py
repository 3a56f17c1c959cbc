"""AWQ and GPTQ with llm-compressor (`oneshot`), writing a compressed-tensors checkpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from .plan import recipe


@contextlib.contextmanager
def cpu_without_pinning() -> Iterator[None]:
    """Let llm-compressor 0.14 run without an accelerator.

    Its sequential pipeline pins cached activations (`IntermediatesCache.pin_memory`,
    llmcompressor/pipelines/cache.py) to speed up host-to-GPU copies; pinning itself needs an
    accelerator and fails on a CPU-only machine. With no accelerator there is no copy to speed up,
    so for the duration of one run, and only when no GPU is present, pinning does nothing.
    """
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    if torch.cuda.is_available():
        yield
        return
    original = IntermediatesCache.pin_memory
    IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None
    try:
        yield
    finally:
        IntermediatesCache.pin_memory = original


def modifiers(spec):
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier
    from llmcompressor.modifiers.transform.awq import AWQModifier

    classes = {"AWQModifier": AWQModifier, "QuantizationModifier": QuantizationModifier, "GPTQModifier": GPTQModifier}
    return [classes[name](**kwargs) for name, kwargs in recipe(spec)]


def quantize(spec, model_dir: Path, texts: list[str], target: Path) -> None:
    import torch
    from datasets import Dataset
    from llmcompressor import oneshot
    from transformers import AutoModelForCausalLM, AutoTokenizer

    s = spec.settings()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto" if torch.cuda.is_available() else torch.float32)
    rows = Dataset.from_dict({"text": texts[: s.num_samples]})
    rows = rows.map(lambda r: tokenizer(r["text"], truncation=True, max_length=s.max_sequence_length,
                                        add_special_tokens=False), remove_columns=["text"])
    with cpu_without_pinning():
        oneshot(model=model, dataset=rows, recipe=modifiers(spec), max_seq_length=s.max_sequence_length,
                num_calibration_samples=len(rows))
    model.save_pretrained(target, save_compressed=True)
    tokenizer.save_pretrained(target)
