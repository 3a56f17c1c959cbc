"""FineTuneJob: full fine-tuning (optionally with DeepSpeed), LoRA, QLoRA, and the preference and
reinforcement methods DPO, ORPO, KTO and GRPO (LoRA by default, 4-bit base or all parameters)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from . import datasets as training_data
from .base import Optional, Issue
from .columns import CANONICAL
from .datasets import MAX_DATASETS, TrainingDataset
from .common import Output
from .constants import VERSION
from .gates import FineTuneGate
from .preference import DpoSettings, GrpoSettings, KtoSettings, OrpoSettings
from .checkpoints import CheckpointSettings
from .resource import METHOD_COLUMN, PHASE_COLUMN, PROGRESS_COLUMN, JobSpec, Resource
from .sources import ModelSource
from .tokens import SpecialTokens, template_problems
from .tracking import Tracking
from .training import BNB_OPTIMIZERS, DeepSpeedSettings, LoraSettings, QuantizationSettings, TrainingSettings

FineTuneMethod = Literal["full", "lora", "qlora", "dpo", "orpo", "kto", "grpo"]
SFT_METHODS = ("full", "lora", "qlora")
# Preference and reinforcement methods: a LoRA adapter by default, all parameters with adapter none.
PREFERENCE_METHODS = ("dpo", "orpo", "kto", "grpo")
ADAPTER_METHODS = ("lora", "qlora", *PREFERENCE_METHODS)
# The dataset formats each method reads (kto splits each preference pair into two labelled rows).
METHOD_FORMATS = {
    **{m: ("chat", "instruction", "text") for m in SFT_METHODS},
    "dpo": ("preference",), "orpo": ("preference",), "kto": ("unpaired", "preference"), "grpo": ("verifiable",),
}


class FineTuneOutput(Output):
    """Where the adapter or model goes."""

    merge_adapter: bool = False
    """Also write the base model with the adapter merged in, with the tokenizer (adapter methods)."""


UNPAGED = {"paged_adamw_8bit": "adamw_bnb_8bit", "paged_adamw_32bit": "adamw_torch", "paged_lion_8bit": "lion_8bit",
           "paged_lion_32bit": "lion_32bit"}


def _format_rules(exempt: str, test: str, message: str) -> tuple[dict[str, str], dict[str, str]]:
    """CEL: unless `exempt`, `test` holds for the format f of dataset, and of every entry of datasets."""
    one, each = test.replace("f ", "self.dataset.format ", 1), test.replace("f ", "d.format ", 1)
    return ({"rule": f"{exempt} || !has(self.dataset) || {one}", "message": message, "fieldPath": ".dataset.format"},
            {"rule": f"{exempt} || !has(self.datasets) || self.datasets.all(d, {each})", "message": message,
             "fieldPath": ".datasets"})


class FineTuneSpec(JobSpec):
    """What to fine-tune, on what, and how."""

    method: FineTuneMethod
    """full, lora, qlora (4-bit base + LoRA); dpo, orpo (preference pairs), kto (rows labelled
    desirable or not), grpo (reinforcement with verifiable rewards)."""
    model: ModelSource
    """The base model."""
    dataset: Optional[TrainingDataset] = None
    """Training data: one dataset (or datasets, a list)."""
    datasets: Optional[list[TrainingDataset]] = Field(default=None, min_length=1, max_length=MAX_DATASETS)
    """Several datasets trained on together, mixed by their weights and the seed (or dataset, one)."""
    lora: Optional[LoraSettings] = None
    """Adapter settings for lora, qlora and dpo (defaults: r 16, alpha 32, all-linear)."""
    quantization: Optional[QuantizationSettings] = None
    """4-bit base model settings; required by qlora, optional for dpo, orpo, kto and grpo (QLoRA-style)."""
    dpo: Optional[DpoSettings] = None
    """DPO settings (method dpo)."""
    orpo: Optional[OrpoSettings] = None
    """ORPO settings (method orpo)."""
    kto: Optional[KtoSettings] = None
    """KTO settings (method kto)."""
    grpo: Optional[GrpoSettings] = None
    """GRPO settings and rewards (method grpo)."""
    adapter: Optional[Literal["lora", "none"]] = None
    """dpo, orpo, kto and grpo: lora (the default) trains a LoRA adapter, none trains every parameter.
    lora and qlora always train an adapter; full never does."""
    deepspeed: Optional[DeepSpeedSettings] = None
    """DeepSpeed ZeRO (method full)."""
    chat_template: Optional[str] = Field(default=None, min_length=1, max_length=65536)
    """The chat template conversations are rendered with: the model's own (default, or `tokenizer`,
    or `tokenizer:NAME` for one of its named templates), one tuneforge ships (chatml, llama3, phi3,
    zephyr, gemma, mistral: each marks assistant turns, so assistantOnlyLoss works with any), or an
    inline Jinja template. Saved with the tokenizer, so serving uses the same one."""
    special_tokens: Optional[SpecialTokens] = None
    """pad, eos, bos and additional special tokens; added to the vocabulary when missing."""
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    """The training loop."""
    checkpoints: CheckpointSettings = Field(default_factory=CheckpointSettings)
    """Where checkpoints survive the pod, and the pod's grace period to save one when preempted."""
    tracking: Optional[Tracking] = None
    """Experiment tracking (MLflow): parameters, per-step metrics, evaluation and the output URI."""
    gate: Optional[FineTuneGate] = None
    """Thresholds the result must meet before a fromJob consumer may start from it."""
    output: FineTuneOutput = Field(default_factory=FineTuneOutput)
    """Where the adapter or model goes."""

    cel_rules = (
        {"rule": "has(self.dataset) || has(self.datasets)",
         "message": "a FineTuneJob needs training data: dataset (one) or datasets (a list)", "fieldPath": ".dataset"},
        {"rule": "!(has(self.dataset) && has(self.datasets))",
         "message": "set dataset (one) or datasets (a list), not both", "fieldPath": ".datasets"},
        {"rule": "self.method != 'qlora' || (has(self.quantization) && self.quantization.bits == 4)",
         "message": "method qlora needs 4-bit settings: add quantization: {bits: 4}", "fieldPath": ".quantization"},
        *_format_rules("!(self.method in ['dpo', 'orpo'])", "f == 'preference'",
                       "methods dpo and orpo need a preference dataset (format: preference)"),
        *_format_rules("self.method != 'kto'", "f in ['unpaired', 'preference']",
                       "method kto needs unpaired (prompt/completion/label) or preference data"),
        *_format_rules("self.method != 'grpo'", "f == 'verifiable'",
                       "method grpo needs prompts with reference answers (format: verifiable)"),
    )

    def data(self) -> list[tuple[str, TrainingDataset]]:
        """(field path, entry) for every training dataset."""
        return training_data.entries(self.dataset, self.datasets)

    def data_format(self) -> str:
        """The shape the training rows take (alpaca and sharegpt rows become chat rows)."""
        listed = self.data()
        return CANONICAL[listed[0][1].format] if listed else "chat"

    def uses_bitsandbytes(self) -> bool:
        """A quantized base or one of bitsandbytes' optimizers: the only parts of a job that need it."""
        return self.quantization is not None or self.training.optimizer in BNB_OPTIMIZERS

    def trains_adapter(self) -> bool:
        return self.method in ("lora", "qlora") or (self.method in PREFERENCE_METHODS and self.adapter != "none")

    def problems(self) -> Iterator[Issue]:
        found = list(training_data.problems(self.dataset, self.datasets))
        yield from found
        if found:
            return
        m, fmt = self.method, self.data_format()
        yield from self._format_problems(m, fmt)
        yield from self._settings_problems(m)
        yield from self._adapter_problems(m)
        if self.deepspeed is not None and self.trains_adapter():
            yield Issue("deepspeed", f"deepspeed applies to training every parameter (method full, or adapter: none), "
                                     f"not {m} with an adapter (adapter methods use plain data parallelism)")
        if self.deepspeed is not None and self.deepspeed.offload_parameters and self.deepspeed.stage != 3:
            yield Issue("deepspeed.offloadParameters", "parameter offload needs ZeRO stage 3")
        if self.training.assistant_only_loss and fmt != "chat":
            yield Issue("training.assistantOnlyLoss", "assistant-only loss needs chat data")
        yield from template_problems(self.chat_template, fmt)
        if self.training.packing and m not in SFT_METHODS:
            yield Issue("training.packing", f"packing applies to supervised fine-tuning (full, lora, qlora), not {m}")
        if self.training.eval_steps and not any(d.validation_split or d.validation_fraction for _, d in self.data()):
            yield Issue("training.evalSteps", "evaluation needs dataset.validationSplit or dataset.validationFraction")
        if m == "grpo":
            yield from self._grpo_batch_problems()
        if self.gate is not None:
            yield from self.gate.checked_with(self.training.eval_steps)
        yield from self._device_problems()

    def _format_problems(self, m: str, fmt: str) -> Iterator[Issue]:
        wanted = METHOD_FORMATS[m]
        if fmt in wanted:
            return
        path, declared = self.data()[0]
        given = fmt if declared.format == fmt else f"{declared.format} (which becomes {fmt})"
        hints = {"preference": "prompt/chosen/rejected", "unpaired": "prompt/completion/label",
                 "verifiable": "prompt/answer"}
        shapes = [f"{w} ({hints[w]})" if w in hints else w for w in wanted]
        shapes_text = shapes[0] if len(shapes) == 1 else f"{', '.join(shapes[:-1])} or {shapes[-1]}"
        users = [k for k, v in METHOD_FORMATS.items() if fmt in v]
        yield Issue(f"{path}.format", f"method {m} needs {shapes_text} data, got {given} (which is for "
                                      f"{'method' if len(users) == 1 else 'methods'} {', '.join(users)})")

    def _settings_problems(self, m: str) -> Iterator[Issue]:
        for block in PREFERENCE_METHODS:
            if m != block and getattr(self, block) is not None:
                yield Issue(block, f"{block} settings apply to method {block}, not {m}")

    def _adapter_problems(self, m: str) -> Iterator[Issue]:
        q = self.quantization
        if self.adapter is not None and m not in PREFERENCE_METHODS:
            meaning = "always trains an adapter" if m != "full" else "trains every parameter (use method lora for an adapter)"
            yield Issue("adapter", f"adapter applies to methods {', '.join(PREFERENCE_METHODS)}; method {m} {meaning}")
        if m == "qlora" and (q is None or q.bits != 4):
            yield Issue("quantization", "method qlora needs 4-bit settings: add quantization: {bits: 4} (nf4 by default)")
        elif q is not None and m not in ("qlora", "lora", *PREFERENCE_METHODS):
            yield Issue("quantization", f"quantization (a 4- or 8-bit base under an adapter) applies to methods qlora, "
                                        f"lora (8-bit), {', '.join(PREFERENCE_METHODS)}, not {m}")
        elif q is not None and m == "lora" and q.bits == 4:
            yield Issue("quantization.bits", "LoRA on a 4-bit base is method qlora; method lora takes an 8-bit base (bits: 8)")
        elif q is not None and m in PREFERENCE_METHODS and self.adapter == "none":
            yield Issue("quantization", f"a {q.bits}-bit base cannot be trained itself: it needs the LoRA adapter "
                                        "(drop adapter: none)")
        if q is not None and q.bits == 8:
            for name in ("quant_type", "double_quant", "compute_dtype"):
                if q.is_set(name):
                    wire = {"quant_type": "quantType", "double_quant": "doubleQuant", "compute_dtype": "computeDtype"}[name]
                    yield Issue(f"quantization.{wire}", "applies to a 4-bit base; an 8-bit base is LLM.int8 (bitsandbytes)")
        what = f"method {m}" if m == "full" else f"method {m} with adapter: none"
        if not self.trains_adapter() and self.lora is not None:
            yield Issue("lora", f"lora settings apply to adapter training; {what} trains every parameter")
        if not self.trains_adapter() and self.output.merge_adapter:
            yield Issue("output.mergeAdapter", f"{what} trains the whole model; there is no adapter to merge")

    def _optimizer_problems(self) -> Iterator[Issue]:
        t = self.training
        if self.deepspeed is not None and t.optimizer in BNB_OPTIMIZERS:
            yield Issue("training.optimizer", f"{t.optimizer} is a bitsandbytes optimizer; DeepSpeed ZeRO shards and "
                                              "offloads its own optimizer state: use adamw_torch with deepspeed")
        if self.resources.gpus:
            return
        if t.optimizer.startswith("paged_"):
            instead = UNPAGED[t.optimizer]
            yield Issue("training.optimizer", f"{t.optimizer} pages optimizer state between GPU and CPU memory, and this "
                                              f"job has no GPU (resources.gpus: 0): use {instead}, the same without paging")
        if t.tf32:
            yield Issue("training.tf32", "TF32 is a mode of NVIDIA GPUs from Ampere on, and this job has no GPU "
                                         "(resources.gpus: 0)")

    def _device_problems(self) -> Iterator[Issue]:
        yield from self._optimizer_problems()
        if self.resources.gpus:
            return
        t = self.training
        if t.attention == "flash-attention-2":
            yield Issue("training.attention", "flash-attention-2 runs on NVIDIA GPUs only and this job has no GPU "
                                              "(resources.gpus: 0); sdpa, the default on CPU, is PyTorch's fused attention")
        if t.liger_kernels == "on":
            yield Issue("training.ligerKernels", "Liger's kernels are Triton GPU kernels and this job has no GPU "
                                                 "(resources.gpus: 0); use auto or off")

    def _grpo_batch_problems(self) -> Iterator[Issue]:
        g, t, r = self.grpo or GrpoSettings(), self.training, self.resources
        per_generation = t.batch_size * t.gradient_accumulation_steps * max(r.gpus, 1) * r.nodes
        if per_generation % g.num_generations:
            yield Issue("grpo.numGenerations",
                        f"each step samples training.batchSize x gradientAccumulationSteps x GPUs = {per_generation} "
                        f"completions, which must be a multiple of numGenerations ({g.num_generations}); "
                        f"for example batchSize: {g.num_generations}")

    def effective_lora(self) -> LoraSettings:
        return self.lora or LoraSettings()


class FineTuneJob(
    Resource,
    version=VERSION,
    kind="FineTuneJob",
    singular_name="finetunejob",
    plural_name="finetunejobs",
    short_names=["ftj"],
    subresources={"status": {}},
    printer_columns=[
        METHOD_COLUMN,
        {"name": "Model", "type": "string", "jsonPath": ".spec.model.uri", "priority": 1},
        PHASE_COLUMN,
        PROGRESS_COLUMN,
        {"name": "Loss", "type": "number", "jsonPath": ".status.progress.loss"},
        {"name": "ETA", "type": "string", "jsonPath": ".status.progress.eta"},
        {"name": "Restarts", "type": "integer", "jsonPath": ".status.progress.restarts", "priority": 1},
    ],
):
    """Fine-tunes a model (full, LoRA, QLoRA, DPO, ORPO, KTO or GRPO) as a Kubernetes Job."""

    spec: FineTuneSpec
    """What to fine-tune, on what, and how."""


