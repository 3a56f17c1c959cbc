"""AWQ with AutoAWQ (archived upstream; kept for its GEMM/GEMV checkpoint format). Runs in the
autoawq image/environment, which pins transformers 4.x."""

from __future__ import annotations

from pathlib import Path

from .plan import autoawq_config
from .tokenizer_compat import load_tokenizer


def quantize(spec, model_dir: Path, texts: list[str], target: Path) -> None:
    from awq import AutoAWQForCausalLM

    s = spec.settings()
    tokenizer = load_tokenizer(model_dir)
    model = AutoAWQForCausalLM.from_pretrained(str(model_dir), trust_remote_code=spec.model.trust_remote_code)
    model.quantize(tokenizer, quant_config=autoawq_config(s), calib_data=texts[: s.num_samples],
                   max_calib_seq_len=s.max_sequence_length, max_calib_samples=s.num_samples)
    model.save_quantized(str(target))
    tokenizer.save_pretrained(target)
