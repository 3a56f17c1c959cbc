"""Every validator and the message a user sees for it."""

import pytest
from support.builders import finetune, merge, quantize

from tuneforge.api.manifest import parse


def problems(doc) -> list[str]:
    resource, issues = parse(dict(doc))
    assert (resource is None) == bool(issues)
    return [f"{i.path}: {i.message}" for i in issues]


@pytest.mark.parametrize(
    "doc",
    [finetune(m) for m in ("full", "lora", "qlora", "dpo", "orpo", "kto", "grpo")]
    + [finetune(m).set("spec.quantization", {"bits": 4}) for m in ("dpo", "orpo", "kto", "grpo")]
    + [finetune(m).set("spec.adapter", "none") for m in ("dpo", "orpo", "kto", "grpo")]
    + [finetune("full").set("spec.deepspeed", {"stage": 2}), finetune("dpo").set("spec.adapter", "none").set("spec.deepspeed", {"stage": 3})]
    + [merge(m) for m in ("slerp", "ties", "dare_ties", "dare_linear", "task_arithmetic", "linear", "passthrough")]
    + [quantize(m) for m in ("gguf", "awq", "gptq", "exl2", "exl3")],
    ids=lambda d: f"{d['kind']}-{d['spec']['method']}",
)
def test_valid_resources_parse(doc):
    assert problems(doc) == []


CASES = [
    # (document, expected "path: message" fragment)
    (finetune("qlora").drop("spec.quantization"), "spec.quantization: method qlora needs 4-bit settings"),
    (finetune("qlora").set("spec.quantization", {"bits": 8}), "spec.quantization: method qlora needs 4-bit settings"),
    (finetune("lora").set("spec.quantization", {"bits": 4}), "spec.quantization.bits: LoRA on a 4-bit base is method qlora; method lora takes an 8-bit base (bits: 8)"),
    (finetune("dpo").set("spec.dataset", {"uri": "builtin://chat-mini", "format": "chat"}),
     "spec.dataset.format: method dpo needs preference (prompt/chosen/rejected) data, got chat (which is for methods full, lora, qlora)"),
    (finetune("lora").set("spec.dataset", {"uri": "builtin://preference-mini", "format": "preference"}),
     "spec.dataset.format: method lora needs chat, instruction or text data, got preference (which is for methods dpo, orpo, kto)"),
    (finetune("lora").set("spec.dpo", {"beta": 0.2}), "spec.dpo: dpo settings apply to method dpo, not lora"),
    (finetune("full").set("spec.lora", {"r": 8}), "spec.lora: lora settings apply to adapter training; method full trains every parameter"),
    (finetune("lora").set("spec.deepspeed", {"stage": 3}), "spec.deepspeed: deepspeed applies to training every parameter (method full, or adapter: none), not lora with an adapter"),
    (finetune("full").set("spec.deepspeed", {"stage": 2, "offloadParameters": True}),
     "spec.deepspeed.offloadParameters: parameter offload needs ZeRO stage 3"),
    (finetune("full").set("spec.output", {"mergeAdapter": True}),
     "spec.output.mergeAdapter: method full trains the whole model; there is no adapter to merge"),
    (finetune("lora").set("spec.training", {"assistantOnlyLoss": True}).set(
        "spec.dataset", {"uri": "builtin://calibration-mini", "format": "text"}),
     "spec.training.assistantOnlyLoss: assistant-only loss needs chat data"),
    (finetune("lora").set("spec.training", {"evalSteps": 10}), "spec.training.evalSteps: evaluation needs dataset.validationSplit"),
    (finetune("lora").set("spec.dataset", {"uri": "builtin://chat-mini", "format": "instruction"}),
     "spec.dataset.format: builtin://chat-mini holds chat rows, not instruction"),
    (finetune("lora").set("spec.dataset", {"uri": "builtin://nope", "format": "chat"}),
     "spec.dataset.uri: unknown built-in dataset 'nope'"),
    (finetune("lora").set("spec.dataset", {"uri": "file:///d.jsonl", "validationSplit": "test", "validationFraction": 0.1}),
     "spec.dataset.validationFraction: set validationSplit or validationFraction, not both"),
    (finetune("lora").set("spec.dataset", {"uri": "file:///d.jsonl", "validationFraction": 1.5}),
     "spec.dataset.validationFraction: Input should be less than 1"),
    (finetune("lora").set("spec.model", {"uri": "builtin://llama-9000"}), "spec.model.uri: unknown built-in model 'llama-9000'"),
    (finetune("lora").set("spec.model", {"uri": "models.example.com/x"}), "spec.model.uri: 'models.example.com/x' has no known scheme"),
    (finetune("lora").set("spec.model", {"uri": "file://relative/path"}), "spec.model.uri: 'file://relative/path' must be absolute"),
    (finetune("lora").set("spec.model", {"uri": "s3:///prefix"}), "spec.model.uri: 's3:///prefix' needs a bucket"),
    (finetune("lora").set("spec.model", {"uri": "hf://"}), "spec.model.uri: 'hf://' names nothing after hf://"),
    (finetune("lora").set("spec.model", {}), "spec.model: set exactly one of uri or fromJob"),
    (finetune("lora").set("spec.model", {"uri": "hf://a/b", "fromJob": {"kind": "MergeJob", "name": "m"}}),
     "spec.model: set exactly one of uri or fromJob"),
    (finetune("lora").set("spec.model", {"fromJob": {"kind": "MergeJob", "name": "m"}, "revision": "main"}),
     "spec.model.fromJob: revision and secretRef apply to uri sources"),
    (finetune("lora").set("spec.model", {"fromJob": {"kind": "Deployment", "name": "m"}}),
     "spec.model.fromJob.kind: Input should be 'FineTuneJob', 'MergeJob' or 'QuantizeJob'"),
    (finetune("lora").set("spec.output", {"uri": "builtin://x"}), "spec.output.uri: builtin:// is read-only"),
    (finetune("lora").set("spec.resources", {"memory": "lots"}), "spec.resources.memory: 'lots' is not a Kubernetes quantity"),
    (finetune("lora").set("spec.resources", {"gpus": -1}), "spec.resources.gpus: Input should be greater than or equal to 0"),
    (finetune("lora").set("spec.training", {"batchSize": 0}), "spec.training.batchSize: Input should be greater than or equal to 1"),
    (finetune("lora").set("spec.training", {"learningRate": 0}), "spec.training.learningRate: Input should be greater than 0"),
    (finetune("lora").set("spec.training", {"precision": "fp8"}), "spec.training.precision: Input should be 'auto', 'bf16', 'fp16' or 'fp32'"),
    (finetune("lora").set("spec.lora", {"r": 0}), "spec.lora.r: Input should be greater than or equal to 1"),
    (finetune("lora").set("spec.lora", {"targetModules": []}), "spec.lora.targetModules: List should have at least 1 item"),
    (finetune("lora").set("spec.lorra", {"r": 8}), "spec.lorra: unknown field; did you mean 'lora'?"),
    (finetune("lora").set("spec.training", {"maxStep": 5}), "spec.training.maxStep: unknown field; did you mean 'maxSteps'?"),
    (finetune("sft"), "spec.method: Input should be 'full', 'lora', 'qlora', 'dpo', 'orpo', 'kto' or 'grpo'"),
    (finetune("lora").drop("spec.dataset"), "spec.dataset: a FineTuneJob needs training data: dataset (one) or datasets (a list)"),
    (finetune("lora").set("spec.runPolicy", {"backoffLimit": -1}), "spec.runPolicy.backoffLimit: Input should be greater than or equal to 0"),
    (finetune("lora", name="My_Job"), "metadata.name: 'My_Job' is not a valid name"),
    (finetune("lora", name="a" * 60), "metadata.name: '" + "a" * 60 + "' is 60 characters; at most 52"),
    (merge("slerp").set("spec.models", [{"model": {"uri": "builtin://smollm2-135m-instruct"}}]),
     "spec.models: slerp takes exactly two models, got 1"),
    (merge("slerp").set("spec.baseModel", {"uri": "hf://other/model"}),
     "spec.baseModel: slerp interpolates between its two models: baseModel must be one of them"),
    (merge("slerp").drop("spec.parameters"), "spec.parameters.t: slerp needs the interpolation factor t"),
    (merge("slerp").set("spec.parameters", {"t": [0, 1.2]}), "spec.parameters.t: t must be between 0 and 1, got 1.2"),
    (merge("ties").drop("spec.baseModel"), "spec.baseModel: method ties needs a baseModel"),
    (merge("dare_ties").drop("spec.baseModel"), "spec.baseModel: method dare_ties needs a baseModel"),
    (merge("dare_linear").drop("spec.baseModel"), "spec.baseModel: method dare_linear needs a baseModel"),
    (merge("ties").set("spec.models", [{"model": {"uri": "hf://a/b"}, "parameters": {"density": 2}}]),
     "spec.models[0].parameters.density: density must be between 0 and 1, got 2"),
    (merge("linear").set("spec.models", [{"model": {"uri": "hf://a/b"}, "parameters": {"weight": 50}}]),
     "spec.models[0].parameters.weight: weight 50 is out of the sensible range"),
    (merge("model_stock").set("spec.models", [{"model": {"uri": "hf://a/b"}}]).set("spec.baseModel", {"uri": "hf://c/d"}),
     "spec.models: method model_stock needs at least 3 distinct models (base included), got 2"),
    # Counted as written: entries naming one model are still entries, and the message says which.
    (merge("model_stock"), "spec.models: method model_stock needs at least 3 distinct models (base included), got 3 "
     "entries naming 2 distinct models: baseModel is the same model as models[0] (builtin://smollm2-135m-instruct)"),
    (merge("model_stock").set("spec.models", [{"model": {"uri": "hf://a/b"}}] * 3).set("spec.baseModel", {"uri": "hf://c/d"}),
     "spec.models: method model_stock needs at least 3 distinct models (base included), got 4 entries naming 2 distinct "
     "models: models[1] is the same model as models[0] (hf://a/b); models[2] is the same model as models[0] (hf://a/b)"),
    # mergekit refuses two entries of one model ("Duplicate merge inputs"), whatever the method.
    (merge("ties").set("spec.models", [{"model": {"uri": "hf://a/b"}, "parameters": {"weight": 0.5, "density": 0.5}}] * 2),
     "spec.models[1].model: the same model as models[0] (hf://a/b): mergekit refuses duplicate merge inputs"),
    (merge("linear").set("spec.models", [{"model": {"uri": "hf://a/b"}, "parameters": {"weight": 1}},
                                         {"model": {"uri": "hf://c/d"}, "parameters": {"weight": 1}},
                                         {"model": {"uri": "hf://a/b"}, "parameters": {"weight": 1}}]),
     "spec.models[2].model: the same model as models[0] (hf://a/b)"),
    (merge("slerp").drop("spec.models").set("spec.slices", [{"sources": [
        {"model": {"uri": "hf://a/b"}, "layerRange": [0, 2]}, {"model": {"uri": "hf://a/b"}, "layerRange": [2, 4]}]}]),
     "spec.slices[0].sources[1].model: the same model as slices[0].sources[0] (hf://a/b)"),
    (merge("passthrough").set("spec.slices", None), "spec.models: method passthrough needs models (or slices)"),
    (merge("passthrough").set("spec.models", [{"model": {"uri": "hf://a/b"}}, {"model": {"uri": "hf://c/d"}}]).drop("spec.slices"),
     "spec.slices: passthrough stacks layers: describe them with slices"),
    (merge("passthrough").set("spec.slices", [{"sources": [{"model": {"uri": "hf://a/b"}, "layerRange": [5, 2]}]}]),
     "spec.slices[0].sources[0].layerRange: [5, 2] is not a range"),
    (merge("ties").set("spec.slices", [{"sources": [{"model": {"uri": "hf://a/b"}, "layerRange": [0, 2]}]}]),
     "spec.slices: set models or slices, not both"),
    (merge("fancy"), "spec.method: Input should be 'linear', 'slerp'"),
    (quantize("gguf").set("spec.gguf", {"types": ["q4km"]}), "spec.gguf.types: unknown GGUF type 'q4km' (did you mean q4_k_m?)"),
    (quantize("gguf").set("spec.gguf", {"types": ["q4_k_m", "q4_k_m"]}), "spec.gguf.types: each type may appear once"),
    (quantize("gguf").set("spec.gguf", {"types": []}), "spec.gguf.types: List should have at least 1 item"),
    (quantize("gguf").set("spec.gguf", {"types": ["iq2_xs", "q4_k_m"]}), "spec.gguf.imatrix: iq2_xs need an importance matrix"),
    (quantize("gguf").set("spec.awq", {"bits": 4}), "spec.awq: awq settings apply to method awq, not gguf"),
    (quantize("exl2").set("spec.resources", {"gpus": 0}), "spec.resources.gpus: method exl2 needs a CUDA GPU"),
    (quantize("exl2").set("spec.exl2", {"bitsPerWeight": [1.5]}), "spec.exl2.bitsPerWeight: 1.5 out of range"),
    (quantize("awq").set("spec.awq", {"engine": "autogptq"}), "spec.awq.engine: Input should be 'llm-compressor' or 'autoawq'"),
]


@pytest.mark.parametrize("doc, expected", CASES, ids=[c[1][:60] for c in CASES])
def test_rule_message(doc, expected):
    found = problems(doc)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once():
    doc = (
        finetune("qlora", name="Bad_Name")
        .drop("spec.quantization")
        .set("spec.lorra", {})
        .set("spec.model", {"uri": "nope"})
        .set("spec.dataset", {"uri": "builtin://chat-mini", "format": "chat", "maxSamples": 0})
    )
    found = problems(doc)
    assert len(found) == 4, found
    assert {p.split(":")[0] for p in found} == {"metadata.name", "spec.lorra", "spec.model.uri", "spec.dataset.maxSamples"}


def test_rules_in_separate_blocks_are_reported_together():
    doc = merge("ties").drop("spec.baseModel").set(
        "spec.models", [{"model": {"uri": "hf://a/b"}, "parameters": {"density": 3}}, {"model": {}}]
    )
    found = problems(doc)
    assert any(p.startswith("spec.models[1].model:") for p in found), found


@pytest.mark.parametrize("models, base", [
    (["hf://a/b", "hf://a/b"], "hf://c/d"),
    (["hf://a/b", "hf://c/d"], "hf://c/d"),  # the base listed among the models too: mergekit allows it
    (["hf://a/b", "hf://c/d", "hf://e/f"], "hf://c/d"),
    (["hf://c/d", "hf://a/b", "hf://c/d"], "hf://a/b"),
])
def test_duplicate_inputs_are_refused_where_mergekit_refuses_them(models, base):
    """The same inputs through mergekit's own check (its merge methods' InputContract, which mergekit
    lists the base among the models for once): refused there exactly when tuneforge refuses them."""
    from mergekit.merge_methods.base import InputContract

    ids = list(models) + ([base] if base not in models else [])
    try:
        InputContract(base="required").validate_ids(ids, base)
        refused = False
    except ValueError as e:
        assert "Duplicate merge inputs" in str(e)
        refused = True
    doc = merge("ties").set("spec.models", [{"model": {"uri": m}, "parameters": {"weight": 0.5, "density": 0.5}}
                                            for m in models]).set("spec.baseModel", {"uri": base})
    found = [p for p in problems(doc) if "duplicate merge inputs" in p]
    assert bool(found) == refused, found
