"""What a model may carry before tuneforge loads it: no pickle-only weights and no model code of its
own unless its spec allows them."""

from __future__ import annotations

from pathlib import Path

from ..api.sources import ModelSource
from ..errors import SourceError


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
SAFE_SUFFIXES = (".safetensors", ".gguf")


def check_weights(path: Path, source: ModelSource) -> None:
    """Refuse a model whose only weights are pickles unless its spec allows them: loading a pickle
    runs whatever code the file carries. Safetensors and GGUF are plain data."""
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    if source.allow_pickle or any(f.suffix in SAFE_SUFFIXES for f in files):
        return
    pickles = sorted(f.name for f in files if f.suffix in PICKLE_SUFFIXES)
    if pickles:
        shown = ", ".join(pickles[:3]) + (f" and {len(pickles) - 3} more" if len(pickles) > 3 else "")
        raise SourceError(f"{source.uri}: its weights are pickle files only ({shown}); loading a pickle runs code "
                          "from the file. Convert them to safetensors, or set allowPickle: true on this model "
                          "if you trust where it comes from")


def check_code(path: Path, source: ModelSource) -> None:
    """Refuse a model that needs its own Python code (config.json `auto_map` for an architecture
    transformers does not know) unless its spec trusts it. transformers would refuse too, but with
    a traceback; this says which field to set, before anything is loaded."""
    import json

    config = path / "config.json"
    if source.trust_remote_code or not config.is_file():
        return
    data = json.loads(config.read_text())
    auto_map = data.get("auto_map")
    if not isinstance(auto_map, dict) or not auto_map:
        return
    try:
        from transformers import CONFIG_MAPPING

        if data.get("model_type") in CONFIG_MAPPING:
            return  # transformers has its own class for it and runs none of the model's code
    except ImportError:
        pass
    modules = sorted({str(v if isinstance(v, str) else v[0]).split("--")[-1].split(".")[0] + ".py"
                      for v in auto_map.values() if v})
    raise SourceError(f"{source.uri}: the model needs its own Python code ({', '.join(modules)}, named by auto_map in "
                      "config.json); it runs only with trustRemoteCode: true on this model. Leave it off unless you "
                      "trust where the model comes from")
