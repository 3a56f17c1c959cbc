"""EXL2 (exllamav2) and EXL3 (exllamav3): CUDA-only converters, planned on CPU, run in the exl2 image."""

from __future__ import annotations

from ..base import Backend
from .plan import plan

BACKEND = Backend("exl2", "QuantizeJob", ("exl2", "exl3"), __name__, plan)
