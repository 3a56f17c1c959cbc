"""The preference and reinforcement methods' fields (ORPO, KTO, GRPO, adapter): the message a user
sees for each bad value, naming the field."""

import pytest
from support.builders import finetune

from tuneforge.api.manifest import parse

NONE = finetune("dpo").set("spec.adapter", "none")
CASES = [
    (finetune("orpo"), "spec.orpo", {"beta": 0}, "spec.orpo.beta: Input should be greater than 0"),
    (finetune("kto"), "spec.kto", {"beta": 11}, "spec.kto.beta: Input should be less than or equal to 10"),
    (finetune("kto"), "spec.kto", {"desirableWeight": 0}, "spec.kto.desirableWeight: Input should be greater than 0"),
    (finetune("kto"), "spec.kto", {"undesirableWeight": -1}, "spec.kto.undesirableWeight: Input should be greater than 0"),
    (finetune("kto"), "spec.kto", {"lossType": "sigmoid"}, "spec.kto.lossType: Input should be 'kto' or 'apo_zero_unpaired'"),
    (finetune("grpo"), "spec.grpo", {"numGenerations": 1}, "spec.grpo.numGenerations: Input should be greater than or equal to 2"),
    (finetune("grpo"), "spec.grpo", {"maxCompletionLength": 0},
     "spec.grpo.maxCompletionLength: Input should be greater than or equal to 1"),
    (finetune("grpo"), "spec.grpo", {"beta": -0.1}, "spec.grpo.beta: Input should be greater than or equal to 0"),
    (finetune("grpo"), "spec.grpo", {"temperature": 0}, "spec.grpo.temperature: Input should be greater than 0"),
    (finetune("grpo"), "spec.grpo", {"rewards": []}, "spec.grpo.rewards: List should have at least 1 item after validation, not 0"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "exact-match"}, {"name": "exact-match", "weight": 2}]},
     "spec.grpo.rewards: reward exact-match is listed twice; give it one entry with its weight"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "bleu"}]},
     "spec.grpo.rewards[0].name: Input should be 'exact-match', 'numeric-match', 'format' or 'length-penalty'"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "exact-match", "weight": 1000}]},
     "spec.grpo.rewards[0].weight: Input should be less than or equal to 100"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "numeric-match", "tolerance": -1}]},
     "spec.grpo.rewards[0].tolerance: Input should be greater than or equal to 0"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "exact-match", "tolerance": 0.5}]},
     "spec.grpo.rewards[0].tolerance: tolerance applies to reward numeric-match, not exact-match"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "format"}]},
     "spec.grpo.rewards[0].pattern: reward format needs a pattern (a regular expression)"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "format", "pattern": "(unclosed"}]},
     "spec.grpo.rewards[0].pattern: not a valid regular expression: missing ), unterminated subpattern at position 0"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "length-penalty", "targetLength": 0}]},
     "spec.grpo.rewards[0].targetLength: Input should be greater than or equal to 1"),
    (finetune("grpo"), "spec.grpo", {"rewards": [{"name": "exact-match"}, {"name": "length-penalty", "pattern": "x"}]},
     "spec.grpo.rewards[1].pattern: pattern applies to reward format, not length-penalty"),
    (finetune("dpo"), "spec.adapter", "qlora", "spec.adapter: Input should be 'lora' or 'none'"),
    (finetune("lora"), "spec.adapter", "none",
     "spec.adapter: adapter applies to methods dpo, orpo, kto, grpo; method lora always trains an adapter"),
    (finetune("full"), "spec.adapter", "lora", "spec.adapter: adapter applies to methods dpo, orpo, kto, grpo; "
                                               "method full trains every parameter (use method lora for an adapter)"),
    (NONE, "spec.quantization", {"bits": 4},
     "spec.quantization: a 4-bit base cannot be trained itself: it needs the LoRA adapter (drop adapter: none)"),
    (finetune("orpo"), "spec.quantization", {"bits": 8, "doubleQuant": False},
     "spec.quantization.doubleQuant: applies to a 4-bit base; an 8-bit base is LLM.int8 (bitsandbytes)"),
    (finetune("kto"), "spec.dataset", {"uri": "builtin://chat-mini", "format": "chat"},
     "spec.dataset.format: method kto needs unpaired (prompt/completion/label) or preference (prompt/chosen/rejected) "
     "data, got chat (which is for methods full, lora, qlora)"),
    (finetune("grpo"), "spec.dataset", {"uri": "builtin://preference-mini", "format": "preference"},
     "spec.dataset.format: method grpo needs verifiable (prompt/answer) data, got preference (which is for methods dpo, orpo, kto)"),
    (finetune("orpo"), "spec.dataset", {"uri": "builtin://answers-mini", "format": "verifiable"},
     "spec.dataset.format: method orpo needs preference (prompt/chosen/rejected) data, got verifiable (which is for method grpo)"),
    (finetune("grpo"), "spec.training", {"batchSize": 6},
     "spec.grpo.numGenerations: each step samples training.batchSize x gradientAccumulationSteps x GPUs = 6 completions, "
     "which must be a multiple of numGenerations (4); for example batchSize: 4"),
    (finetune("dpo"), "spec.training", {"packing": True},
     "spec.training.packing: packing applies to supervised fine-tuning (full, lora, qlora), not dpo"),
    (finetune("dpo"), "spec.orpo", {"beta": 0.2}, "spec.orpo: orpo settings apply to method orpo, not dpo"),
    (finetune("grpo"), "spec.kto", {}, "spec.kto: kto settings apply to method kto, not grpo"),
    (NONE, "spec.lora", {"r": 4},
     "spec.lora: lora settings apply to adapter training; method dpo with adapter: none trains every parameter"),
    (NONE, "spec.output", {"mergeAdapter": True},
     "spec.output.mergeAdapter: method dpo with adapter: none trains the whole model; there is no adapter to merge"),
    (finetune("lora"), "spec.dataset", {"uri": "builtin://answers-mini", "format": "chat"},
     "spec.dataset.format: builtin://answers-mini holds verifiable rows, not chat"),
    (finetune("lora"), "spec.dataset", {"uri": "file:///x.jsonl", "format": "kto"},
     "spec.dataset.format: Input should be 'chat', 'instruction', 'preference', 'unpaired', 'verifiable', 'text', 'alpaca' or 'sharegpt'"),
]


@pytest.mark.parametrize("doc, path, value, expected", CASES, ids=[c[3].split(":")[0] + str(n) for n, c in enumerate(CASES)])
def test_bad_value_message(doc, path, value, expected):
    _, issues = parse(dict(doc.copy().set(path, value)))
    assert [f"{i.path}: {i.message}" for i in issues] == [expected]
