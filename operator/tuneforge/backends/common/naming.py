"""File names derived from a model's source."""

from __future__ import annotations

import re


def model_stem(uri: str | None) -> str:
    """A file-name stem for the model: the last path part of its URI (smollm2-135m-instruct, ...)."""
    parts = [p for p in (uri or "model").split("://", 1)[-1].split("@", 1)[0].split("/") if p]
    # An upstream job's output is <job>/model: the job's name says more than "model".
    tail = parts[-2] if len(parts) > 1 and parts[-1] == "model" else (parts[-1] if parts else "model")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.") or "model"
