"""Tokenizers saved by transformers 5 for the AutoAWQ engine, which pins transformers 4.x.

transformers 5 writes `"tokenizer_class": "TokenizersBackend"`, a class 4.x does not have, so 4.x's
AutoTokenizer refuses every model saved by 5.x (a FineTuneJob's output, the built-in model). The
`tokenizer.json` beside it is the `tokenizers` library's own format, which both read alike.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL = ("bos_token", "eos_token", "unk_token", "pad_token")


def load_tokenizer(model_dir: Path):
    import transformers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config_file, tokenizer_file = model_dir / "tokenizer_config.json", model_dir / "tokenizer.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    named = config.get("tokenizer_class")
    if not named or hasattr(transformers, named) or not tokenizer_file.exists():
        return AutoTokenizer.from_pretrained(model_dir)
    specials = {key: config[key] for key in SPECIAL if isinstance(config.get(key), str)}
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file), **specials,
                                        clean_up_tokenization_spaces=config.get("clean_up_tokenization_spaces", False))
    template = model_dir / "chat_template.jinja"
    tokenizer.chat_template = template.read_text() if template.exists() else config.get("chat_template")
    return tokenizer
