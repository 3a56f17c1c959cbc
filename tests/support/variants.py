"""Models of the built-in's architecture for merges: its weights plus small seeded noise (2% of each
tensor's spread), so every merge method has real, distinct inputs."""

from __future__ import annotations

from pathlib import Path


def perturbed_copies(folder: Path, seeds: tuple[int, ...]) -> tuple[Path, list[Path]]:
    """(the built-in model's folder, one saved copy per seed under `folder`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuneforge.sources.builtin import materialize_model

    base = materialize_model("smollm2-135m-instruct")
    copies = []
    for seed in seeds:
        model = AutoModelForCausalLM.from_pretrained(base)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * p.std() * 0.02)
        target = folder / f"variant{seed}"
        model.save_pretrained(target)
        AutoTokenizer.from_pretrained(base).save_pretrained(target)
        copies.append(target)
    return base, copies
