"""The AutoAWQ engine (transformers 4.x) reads tokenizers that transformers 5 saved.

On the GPU machine (tests/gpu/results/quantize-h200.md) 4.51's AutoTokenizer refused the folder with
"Tokenizer class TokenizersBackend does not exist". Here transformers 5 is installed, so a class name
it lacks stands in for that one; the tokenizer built from tokenizer.json must encode, mark special
tokens and template chats exactly as the folder's own tokenizer does.
"""

import json
import shutil

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from tuneforge.backends.awq.tokenizer_compat import load_tokenizer
from tuneforge.sources.builtin import materialize_model

CHAT = [{"role": "user", "content": "What is 2 + 3?"}]


def test_unknown_tokenizer_class_falls_back_to_tokenizer_json(tmp_path):
    source = materialize_model("smollm2-135m-instruct")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (source / name).exists():
            shutil.copy(source / name, tmp_path / name)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "TokenizerClassFromTheFuture"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))

    expected, loaded = AutoTokenizer.from_pretrained(source), load_tokenizer(tmp_path)
    assert type(loaded) is PreTrainedTokenizerFast
    text = "The capital of France is Paris.<|im_end|>"
    assert loaded(text)["input_ids"] == expected(text)["input_ids"]
    assert (loaded.eos_token, loaded.pad_token, loaded.bos_token) == (expected.eos_token, expected.pad_token,
                                                                      expected.bos_token)
    assert loaded.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True) == \
        expected.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)


def test_known_class_uses_auto_tokenizer():
    source = materialize_model("smollm2-135m-instruct")
    assert type(load_tokenizer(source)) is type(AutoTokenizer.from_pretrained(source))
