"""The speed options resolved on the device the worker actually runs on.

Validation refuses what a spec says outright (flash-attention-2 or Liger with resources.gpus: 0);
here the worker checks what it finds: a GPU, and the packages the image holds.
"""

from __future__ import annotations

from importlib.util import find_spec

from ...errors import InputError

ATTENTION = {"sdpa": "sdpa", "eager": "eager", "flash-attention-2": "flash_attention_2"}


def attention(setting: str, cuda: bool) -> str:
    """transformers' attn_implementation for training.attention."""
    flash = find_spec("flash_attn") is not None
    if setting == "auto":
        return "flash_attention_2" if cuda and flash else "sdpa"
    if setting == "flash-attention-2" and not cuda:
        raise InputError("training.attention: flash-attention-2 needs an NVIDIA GPU and this worker sees none; "
                         "use sdpa (PyTorch's fused attention)")
    if setting == "flash-attention-2" and not flash:
        raise InputError("training.attention: flash-attention-2 needs the flash-attn package, which this image "
                         "lacks (PyPI has no prebuilt wheel of it); use sdpa or an image built with flash-attn")
    return ATTENTION[setting]


def liger(setting: str, cuda: bool) -> bool:
    """Whether the trainer applies Liger's kernels (transformers' use_liger_kernel)."""
    if setting == "off":
        return False
    installed = find_spec("liger_kernel") is not None
    if setting == "auto":
        return cuda and installed
    if not cuda:
        raise InputError("training.ligerKernels: Liger's kernels run on GPUs and this worker sees none; use auto or off")
    if not installed:
        raise InputError("training.ligerKernels: on needs the liger-kernel package, which this image lacks; use auto")
    return True
