"""One greedy generation from a model folder as written to disk: proof that an output loads and works."""

from __future__ import annotations

from pathlib import Path

SAMPLE_PROMPT = "What is the capital of France?"
AUTO_LIMIT_BYTES = 2 << 30


def wanted(setting: str, model_dir: Path) -> bool:
    """Whether to sample: always, never, or (auto) when the weights are small enough to load cheaply."""
    if setting != "auto":
        return setting == "on"
    size = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    return 0 < size <= AUTO_LIMIT_BYTES


def maybe_sample(setting: str, model_dir: Path) -> dict[str, str] | None:
    if not wanted(setting, model_dir):
        return None
    return {"prompt": SAMPLE_PROMPT, "completion": sample(model_dir)}


def sample(model_dir: Path, prompt: str = SAMPLE_PROMPT, max_new_tokens: int = 24) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
