"""Chat templates a FineTuneJob can name (`chatTemplate: llama3`), written for tuneforge: each marks
the assistant's turns with {% generation %} so that assistant-only loss works with any of them, and
lists the marker tokens it needs the tokenizer to have as single tokens. Pure data: the API checks
names against it without importing a tokenizer."""

from __future__ import annotations

from typing import NamedTuple


class ChatTemplate(NamedTuple):
    jinja: str
    markers: tuple[str, ...]  # tokens the template's turns are built from (must be in the vocabulary)
    family: str


# The system turn folded into the first user turn, for templates without a system role.
_SYSTEM_FIRST = ("{%- set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else '' -%}")


def _turns(open_: str, close: str, generation_prompt: str) -> str:
    """A template whose every turn is open_(role) + content + close, the assistant's marked."""
    return (
        "{%- for message in messages -%}"
        "{{- " + open_ + " -}}"
        "{%- if message['role'] == 'assistant' -%}"
        "{% generation %}{{- message['content'] + " + close + " -}}{% endgeneration %}"
        "{%- else -%}{{- message['content'] + " + close + " -}}{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- " + generation_prompt + " -}}{%- endif -%}"
    )


TEMPLATES: dict[str, ChatTemplate] = {
    "chatml": ChatTemplate(
        _turns("'<|im_start|>' + message['role'] + '\\n'", "'<|im_end|>\\n'", "'<|im_start|>assistant\\n'"),
        ("<|im_start|>", "<|im_end|>"), "ChatML (Qwen, SmolLM, Hermes, Yi)"),
    "llama3": ChatTemplate(
        "{{- bos_token or '' -}}" + _turns("'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'", "'<|eot_id|>'",
                                           "'<|start_header_id|>assistant<|end_header_id|>\\n\\n'"),
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), "Llama 3, 3.1, 3.2, 3.3"),
    "phi3": ChatTemplate(
        _turns("'<|' + message['role'] + '|>\\n'", "'<|end|>\\n'", "'<|assistant|>\\n'"),
        ("<|user|>", "<|assistant|>", "<|end|>"), "Phi-3, Phi-3.5"),
    "zephyr": ChatTemplate(
        _turns("'<|' + message['role'] + '|>\\n'", "(eos_token or '') + '\\n'", "'<|assistant|>\\n'"),
        (), "Zephyr, TinyLlama-Chat"),
    "gemma": ChatTemplate(
        "{{- bos_token or '' -}}" + _SYSTEM_FIRST +
        "{%- for message in messages if message['role'] != 'system' -%}"
        "{{- '<start_of_turn>' + ('model' if message['role'] == 'assistant' else 'user') + '\\n' -}}"
        "{%- if message['role'] == 'assistant' -%}"
        "{% generation %}{{- message['content'] + '<end_of_turn>\\n' -}}{% endgeneration %}"
        "{%- else -%}{{- ((system + '\\n\\n') if loop.first and system else '') + message['content'] + '<end_of_turn>\\n' -}}"
        "{%- endif -%}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}",
        ("<start_of_turn>", "<end_of_turn>"), "Gemma, Gemma 2, Gemma 3 (text)"),
    "mistral": ChatTemplate(
        "{{- bos_token or '' -}}" + _SYSTEM_FIRST +
        "{%- for message in messages if message['role'] != 'system' -%}"
        "{%- if message['role'] == 'assistant' -%}"
        "{% generation %}{{- message['content'] + (eos_token or '') -}}{% endgeneration %}"
        "{%- else -%}{{- '[INST] ' + ((system + '\\n\\n') if loop.first and system else '') + message['content'] + ' [/INST]' -}}"
        "{%- endif -%}{%- endfor -%}",
        (), "Mistral and Mixtral instruct (v1 style: [INST] ... [/INST])"),
    "alpaca": ChatTemplate(
        "{%- set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else "
        "'Below is an instruction that describes a task. Write a response that appropriately completes the request.' -%}"
        "{{- (bos_token or '') + system + '\n\n' -}}"
        "{%- for message in messages if message['role'] != 'system' -%}"
        "{%- if message['role'] == 'assistant' -%}"
        "{% generation %}{{- message['content'] + (eos_token or '') -}}{% endgeneration %}{{- '\n\n' -}}"
        "{%- else -%}{{- '### Instruction:\n' + message['content'] + '\n\n### Response:\n' -}}{%- endif -%}"
        "{%- endfor -%}",
        (), "the Alpaca instruction format (### Instruction / ### Response), for base models"),
}
# The model's own template (the default), or one of its named templates: tokenizer:NAME.
OWN = "tokenizer"


def is_inline(value: str) -> bool:
    """An inline Jinja template rather than a name."""
    return "{%" in value or "{{" in value


def names() -> list[str]:
    return [OWN, *TEMPLATES]
