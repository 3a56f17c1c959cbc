"""chatTemplate and specialTokens on the built-in model: a shipped template that marks assistant turns
makes assistant-only loss work (the model's own template cannot), a template whose markers the
vocabulary lacks is refused until specialTokens adds them, and added tokens train beside LoRA."""

import json

import pytest
import yaml
from safetensors import safe_open
from support.builders import finetune
from support.run import run_doc, tuneforge

SHORT = {"maxSteps": 4, "learningRate": 1.0e-3, "batchSize": 2, "maxLength": 96}


@pytest.fixture(scope="module")
def tokenizer_of_smol():
    from transformers import AutoTokenizer

    from tuneforge.api.sources import ModelSource
    from tuneforge.sources import resolve_model

    path = resolve_model(ModelSource(uri="builtin://smollm2-135m-instruct"))
    return lambda: AutoTokenizer.from_pretrained(path)


def spec_with(**fields):
    from tuneforge.api.finetune import FineTuneSpec

    doc = finetune("lora")
    for path, value in fields.items():
        doc = doc.set(f"spec.{path}", value)
    return FineTuneSpec.model_validate(doc["spec"])


class Model:
    """Stands in for the model: these checks run before any weight is touched (no tokens are added)."""

    def resize_token_embeddings(self, size):
        raise AssertionError("no token was to be added")


def test_named_and_inline_templates(tokenizer_of_smol):
    from tuneforge.backends.finetune import tokens
    from tuneforge.errors import InputError

    with pytest.raises(InputError, match=r"^chatTemplate: tokenizer:tool_use: the model's tokenizer has no template named "
                                         r"tool_use; it has: default$"):
        tokens.prepare(spec_with(chatTemplate="tokenizer:tool_use"), Model(), tokenizer_of_smol())
    own = tokenizer_of_smol()
    tokens.prepare(spec_with(chatTemplate="tokenizer:default"), Model(), own)
    assert own.chat_template == tokenizer_of_smol().chat_template

    inline = "{% for m in messages %}<<{{ m['role'] }}>>{{ m['content'] }}{% endfor %}"
    tok = tokenizer_of_smol()
    assert tokens.prepare(spec_with(chatTemplate=inline), Model(), tok).template == "inline"
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == "<<user>>hi"
    with pytest.raises(InputError, match=r"training.assistantOnlyLoss: the chat template \(inline\) does not mark assistant turns"):
        tokens.prepare(spec_with(chatTemplate=inline, **{"training.assistantOnlyLoss": True}), Model(), tokenizer_of_smol())


@pytest.mark.slow
def test_assistant_only_loss_with_a_shipped_template(tmp_path):
    own = finetune("lora", name="own").set("spec.training", {**SHORT, "assistantOnlyLoss": True})
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(dict(own)))
    refused = tuneforge("run", str(path), "--output", str(tmp_path / "own"), timeout=600)
    assert refused.returncode == 2
    assert ("training.assistantOnlyLoss: the chat template (tokenizer) does not mark assistant turns "
            "({% generation %} ... {% endgeneration %})") in refused.stderr

    chatml = own.set("spec.chatTemplate", "chatml").set("metadata.name", "chatml")
    out, _ = run_doc(tmp_path, dict(chatml), "chatml")
    rec = json.loads((out / "tuneforge-output.json").read_text())
    assert rec["metrics"]["chatTemplate"] == "chatml" and rec["metrics"]["steps"] == 4
    saved = json.loads((out / "adapter" / "tokenizer_config.json").read_text()).get("chat_template") or \
        (out / "adapter" / "chat_template.jinja").read_text()
    assert "{% generation %}" in saved, "the adapter's tokenizer carries the template it was trained with"


@pytest.mark.slow
def test_a_template_from_another_family_needs_its_tokens(tmp_path):
    doc = finetune("lora", name="llama3").set("spec.chatTemplate", "llama3").set("spec.training", SHORT)
    path = tmp_path / "llama3.yaml"
    path.write_text(yaml.safe_dump(dict(doc)))
    refused = tuneforge("run", str(path), "--output", str(tmp_path / "refused"), timeout=600)
    assert refused.returncode == 2
    assert ("chatTemplate: llama3 (Llama 3, 3.1, 3.2, 3.3) is built from <|start_header_id|>, <|end_header_id|>, "
            "<|eot_id|>, and this tokenizer has no token <|start_header_id|>, <|end_header_id|>, <|eot_id|>: list them "
            "in specialTokens.additional") in refused.stderr

    markers = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    added = doc.set("spec.specialTokens", {"additional": markers, "eos": "<|eot_id|>"}).set("spec.output.mergeAdapter", True)
    out, _ = run_doc(tmp_path, dict(added), "llama3")
    rec = json.loads((out / "tuneforge-output.json").read_text())
    assert sorted(rec["metrics"]["addedTokens"]) == sorted(markers) and rec["metrics"]["chatTemplate"] == "llama3"
    # The embeddings, three rows longer, trained and saved beside the adapter (modules_to_save)...
    with safe_open(str(out / "adapter" / "adapter_model.safetensors"), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys() if "embed_tokens" in k}
    assert shapes and all(shape == [49152 + 3, 576] for shape in shapes.values()), shapes
    # ...and the merged model has them: a vocabulary three tokens larger, one id per marker.
    config = json.loads((out / "merged" / "config.json").read_text())
    assert config["vocab_size"] == 49152 + 3
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out / "merged")
    assert [len(tok.encode(m, add_special_tokens=False)) for m in markers] == [1, 1, 1] and tok.eos_token == "<|eot_id|>"


def test_a_dpo_reference_copy_gets_the_added_tokens_as_the_policy_has_them():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tuneforge.backends.finetune.trainers import _same_vocabulary

    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False)
    torch.manual_seed(0)
    policy, ref = LlamaForCausalLM(config), LlamaForCausalLM(config)
    policy.resize_token_embeddings(67)
    _same_vocabulary(ref, policy)
    for get in ("get_input_embeddings", "get_output_embeddings"):
        assert getattr(ref, get)().weight.shape[0] == 67
        assert torch.equal(getattr(ref, get)().weight[64:], getattr(policy, get)().weight[64:])
