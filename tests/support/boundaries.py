"""What the operator image must not import (the ML libraries), and the modules it does import."""

from __future__ import annotations

from pathlib import Path

HEAVY = ("torch", "transformers", "peft", "trl", "deepspeed", "bitsandbytes", "llama_cpp", "awq",
         "exllamav2", "exllamav3", "mergekit", "llmcompressor", "datasets", "accelerate", "numpy", "gguf")


def light_modules(root: Path) -> list[str]:
    """What the operator image imports: the API, CRD rendering, the CLI, sources, every backend's
    package and plan (the registry imports them all), and the whole controller package."""
    package = root / "operator" / "tuneforge"
    plans = sorted(package.glob("backends/*/plan.py"))
    controller = sorted((package / "controller").glob("*.py"))
    named = ["tuneforge.api", "tuneforge.api.manifest", "tuneforge.codegen.crds", "tuneforge.cli", "tuneforge.sources",
             "tuneforge.worker.progress", "tuneforge.contract", "tuneforge.backends"]
    named += [f"tuneforge.backends.{p.parent.name}" for p in plans] + [f"tuneforge.backends.{p.parent.name}.plan" for p in plans]
    named += [f"tuneforge.controller.{p.stem}" for p in controller if p.stem != "__init__"]
    return named
