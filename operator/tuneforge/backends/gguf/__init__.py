"""GGUF through llama.cpp: conversion, every quantization type, importance matrices."""

from __future__ import annotations

from ..base import Backend
from .plan import plan

BACKEND = Backend("gguf", "QuantizeJob", ("gguf",), __name__, plan)
