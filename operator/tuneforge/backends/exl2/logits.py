"""Log-probabilities of an EXL2 or EXL3 folder for the quality report (CUDA only)."""

from __future__ import annotations

from pathlib import Path

from ..quality import log_softmax


def exl2(path: Path):
    import torch
    from exllamav2 import ExLlamaV2, ExLlamaV2Config

    model = ExLlamaV2(ExLlamaV2Config(str(path)))
    model.load()

    def logprobs(chunk: list[int]):
        with torch.inference_mode():
            logits = model.forward(torch.tensor([chunk]), cpu_logits=True)
        return log_softmax(logits[0].float().numpy())
    return logprobs


def exl3(path: Path):
    import torch
    from exllamav3 import Config, Model

    model = Model.from_config(Config.from_directory(str(path)))
    model.load()

    def logprobs(chunk: list[int]):
        with torch.inference_mode():
            # Without a cache: the no-cache flash-attention mode exllamav3's own measurement uses.
            logits = model.forward(torch.tensor([chunk]), {"attn_mode": "flash_attn_nc"})
        return log_softmax(logits[0].float().cpu().numpy())
    return logprobs


LOADERS = {"exl2": exl2, "exl3": exl3}
