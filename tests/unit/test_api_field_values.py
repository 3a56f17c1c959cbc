"""Every enum and range field not covered in test_api_rules: the message a user sees for a bad value."""

import pytest
from support.builders import finetune, merge, quantize

from tuneforge.api.manifest import parse

CASES = [
    (finetune("lora"), "spec.output", {"sample": "sometimes"}, "spec.output.sample: Input should be 'auto', 'on' or 'off'"),
    (finetune("lora"), "spec.output", {"overwrite": "perhaps"}, 'spec.output.overwrite: Input should be a valid boolean'),
    (finetune("dpo"), "spec.dpo", {"lossType": "kto"}, "spec.dpo.lossType: Input should be 'sigmoid', 'hinge', 'ipo', 'exo_pair', 'nca_pair', 'robust', 'bco_pair', 'sppo_hard', 'aot', 'aot_unpaired', 'apo_zero', 'apo_down', 'discopop', 'sft' or 'sigmoid_norm'"),
    (finetune("dpo"), "spec.dpo", {"reference": "none"}, "spec.dpo.reference: Input should be 'adapter-disabled' or 'copy'"),
    (finetune("dpo"), "spec.dpo", {"beta": 0}, 'spec.dpo.beta: Input should be greater than 0'),
    (finetune("qlora"), "spec.quantization", {"bits": 4, "quantType": "int4"}, "spec.quantization.quantType: Input should be 'nf4' or 'fp4'"),
    (finetune("qlora"), "spec.quantization", {"bits": 4, "computeDtype": "float8"}, "spec.quantization.computeDtype: Input should be 'auto', 'bfloat16', 'float16' or 'float32'"),
    (finetune("lora"), "spec.lora", {"bias": "some"}, "spec.lora.bias: Input should be 'none', 'all' or 'lora_only'"),
    (finetune("lora"), "spec.lora", {"dropout": 1.0}, 'spec.lora.dropout: Input should be less than 1'),
    (finetune("lora"), "spec.training", {"lrScheduler": "step"}, "spec.training.lrScheduler: Input should be 'linear', 'cosine', 'cosine_with_restarts', 'polynomial', 'constant', 'constant_with_warmup' or 'inverse_sqrt'"),
    (finetune("lora"), "spec.training", {"gradientCheckpointing": "yes"}, "spec.training.gradientCheckpointing: Input should be 'auto', 'on' or 'off'"),
    (finetune("lora"), "spec.training", {"epochs": 0}, 'spec.training.epochs: Input should be greater than 0'),
    (finetune("lora"), "spec.training", {"maxLength": 4}, 'spec.training.maxLength: Input should be greater than or equal to 8'),
    (finetune("lora"), "spec.training", {"gradientAccumulationSteps": 0}, 'spec.training.gradientAccumulationSteps: Input should be greater than or equal to 1'),
    (finetune("full"), "spec.deepspeed", {"stage": 1}, 'spec.deepspeed.stage: Input should be 2 or 3'),
    (finetune("lora"), "spec.resources", {"nodes": 0}, 'spec.resources.nodes: Input should be greater than or equal to 1'),
    (finetune("lora"), "spec.resources", {"cpu": "two"}, "spec.resources.cpu: 'two' is not a Kubernetes quantity (examples: 4, 500m, 16Gi)"),
    (finetune("lora"), "spec.resources", {"sharedMemory": "big"}, "spec.resources.sharedMemory: 'big' is not a Kubernetes quantity (examples: 4, 500m, 16Gi)"),
    (finetune("lora"), "spec.runPolicy", {"activeDeadlineSeconds": 0}, 'spec.runPolicy.activeDeadlineSeconds: Input should be greater than or equal to 1'),
    (finetune("lora"), "spec.runPolicy", {"ttlSecondsAfterFinished": -1}, 'spec.runPolicy.ttlSecondsAfterFinished: Input should be greater than or equal to 0'),
    (finetune("lora"), "spec.scheduling", {"imagePullSecrets": [{}]}, 'spec.scheduling.imagePullSecrets[0].name: required field is missing'),
    (finetune("lora"), "spec.model", {"uri": "hf://a/b", "secretRef": {"name": ""}}, 'spec.model.secretRef.name: String should have at least 1 character'),
    (finetune("lora"), "spec.output", {"uri": "pvc://outputs/../../etc"}, "spec.output.uri: 'pvc://outputs/../../etc' contains '..': a pvc:// path stays inside its claim"),
    (finetune("lora"), "spec.output", {"uri": "pvc://outputs//etc/cron.d"},
     "spec.output.uri: 'pvc://outputs//etc/cron.d' has an empty path segment ('//'): paths inside pvc:// are relative"),
    (finetune("lora"), "spec.output", {"uri": "s3://b/out", "secretRef": {"name": "creds", "key": "password"}},
     "spec.output.secretRef.key: s3:// reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN, "
     "AWS_ENDPOINT_URL, AWS_DEFAULT_REGION) from the Secret; key applies to hf:// tokens only"),
    (finetune("lora"), "spec.dataset", {"uri": "pvc://data/rows.jsonl", "secretRef": {"name": "creds"}},
     "spec.dataset.secretRef: pvc:// needs no credentials; secretRef applies to hf://, s3:// and oci://"),
    (finetune("lora"), "spec.model", {"uri": "hf://org/m", "allowPickle": "maybe"}, 'spec.model.allowPickle: Input should be a valid boolean'),
    (merge("ties"), "spec.dtype", "int8", "spec.dtype: Input should be 'float32', 'float16' or 'bfloat16'"),
    (merge("ties"), "spec.tokenizerSource", "second", "spec.tokenizerSource: Input should be 'base', 'union' or 'first'"),
    (quantize("gguf"), "spec.gguf", {"imatrix": {"chunks": 0}}, 'spec.gguf.imatrix.chunks: Input should be greater than or equal to 1'),
    (quantize("awq"), "spec.awq", {"numSamples": 0}, 'spec.awq.numSamples: Input should be greater than or equal to 1'),
    (quantize("gptq"), "spec.gptq", {"bits": 3}, 'spec.gptq.bits: Input should be 4 or 8'),
    (quantize("exl2"), "spec.exl2", {"headBits": 7}, 'spec.exl2.headBits: Input should be 6 or 8'),
    (quantize("gguf"), "spec.evaluation", {"maxTokens": 10}, 'spec.evaluation.maxTokens: Input should be greater than or equal to 64'),
]


@pytest.mark.parametrize("doc, path, value, expected", CASES, ids=[c[3].split(":")[0] for c in CASES])
def test_bad_value_message(doc, path, value, expected):
    _, issues = parse(dict(doc.copy().set(path, value)))
    assert [f"{i.path}: {i.message}" for i in issues] == [expected]
