"""The worker's side of spec.gate (tuneforge/api/gates.py): every check with its threshold and the
measured value, from the record's metrics where the job measured it already (evaluation loss, KL,
top-1, perplexity), or measured here (exact match of a fine-tune, perplexity of a merge)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..api.gates import QUANTIZE_CHECKS


def check(threshold: str, limit: float, measured: str, value: float | None, subject: str | None = None) -> dict[str, Any]:
    """One comparison: `threshold` is the spec field (max... or min..., maybe dotted), `measured` what it reads."""
    at_most = threshold.split(".")[-1].startswith("max")
    ok = value is not None and math.isfinite(value) and (value <= limit if at_most else value >= limit)
    found = {"threshold": threshold, "limit": limit, "measured": measured,
             "value": None if value is None else round(value, 6), "passed": ok}
    return {**({"subject": subject} if subject else {}), **found}


def describe(checks: list[dict[str, Any]]) -> str:
    """The missed checks in one line, each with its value and threshold."""
    parts = []
    for c in checks:
        if c["passed"]:
            continue
        where = f"{c['subject']}: " if c.get("subject") else ""
        if c["value"] is None:
            parts.append(f"{where}{c['measured']} was not measured (gate.{c['threshold']} {c['limit']:g})")
            continue
        side = "above" if c["threshold"].split(".")[-1].startswith("max") else "below"
        parts.append(f"{where}{c['measured']} {c['value']:g} is {side} gate.{c['threshold']} {c['limit']:g}")
    return "; ".join(parts)


def quantize_checks(gate, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    reference = (metrics.get("reference") or {}).get("perplexity")
    checks = []
    for row in metrics.get("quality") or []:
        subject = row.get("type") or row.get("file")
        if gate.types is not None and subject not in gate.types:
            continue
        measured = dict(row)
        if reference and row.get("perplexity") is not None:
            measured["perplexityRatio"] = row["perplexity"] / reference
        for field, attribute, key in QUANTIZE_CHECKS:
            limit = getattr(gate, attribute)
            if limit is not None:
                checks.append(check(field, limit, key, measured.get(key), subject))
    return checks


def finetune_checks(gate, metrics: dict[str, Any], output: Path, artifacts: dict[str, str]) -> list[dict[str, Any]]:
    checks = []
    loss = metrics.get("evalLoss")
    if gate.max_eval_loss is not None:
        checks.append(check("maxEvalLoss", gate.max_eval_loss, "evalLoss", loss))
    if gate.max_perplexity is not None:
        checks.append(check("maxPerplexity", gate.max_perplexity, "perplexity", math.exp(loss) if loss is not None else None))
    if gate.exact_match is not None:
        from .gate_measures import exact_match

        accuracy, answers = exact_match(gate.exact_match, output, artifacts)
        metrics["exactMatch"] = {"accuracy": accuracy, "answers": answers[:8]}
        checks.append(check("exactMatch.minAccuracy", gate.exact_match.min_accuracy, "exactMatch", accuracy))
    return checks


def merge_checks(gate, spec, output: Path, artifacts: dict[str, str]) -> list[dict[str, Any]]:
    from .. import sources
    from .gate_measures import perplexity

    merged = perplexity(output / artifacts["model"], gate.dataset, gate.max_tokens)
    checks = []
    if gate.max_perplexity is not None:
        checks.append(check("maxPerplexity", gate.max_perplexity, "perplexity", merged))
    if gate.max_perplexity_ratio is not None:
        base = perplexity(sources.resolve_model(spec.base_model), gate.dataset, gate.max_tokens)
        checks.append(check("maxPerplexityRatio", gate.max_perplexity_ratio, "perplexityRatio", merged / base if base else None))
    return checks


def evaluate(resource, output: Path, result: dict[str, Any]) -> dict[str, Any] | None:
    """The gate's verdict for a finished job's record, or None without spec.gate."""
    gate = getattr(resource.spec, "gate", None)
    if gate is None:
        return None
    metrics, artifacts = result["metrics"], result["artifacts"]
    if resource.kind == "QuantizeJob":
        checks = quantize_checks(gate, metrics)
    elif resource.kind == "FineTuneJob":
        checks = finetune_checks(gate, metrics, output, artifacts)
    else:
        checks = merge_checks(gate, resource.spec, output, artifacts)
    verdict = {"passed": all(c["passed"] for c in checks), "checks": checks}
    if not verdict["passed"]:
        verdict["message"] = f"gate failed: {describe(checks)}"
    return verdict

