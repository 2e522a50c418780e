"""Turn a model's raw text into a `GradeResult`: extract the JSON, check its shape, clamp and reconcile.

Two failure levels are kept apart because comparisons report them separately:
`InvalidJSON` (no JSON object could be read) and `SchemaMismatch` (JSON, but not the grade's shape).
Out-of-range numbers are not failures: they are clamped, since the schema's bounds are ours to enforce.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .schema import (
    BREAKDOWN_MAXIMA,
    MAX_ITEM_CHARS,
    MAX_JUSTIFICATION_CHARS,
    MAX_LIST_ITEMS,
    SCORE_MAX,
    Breakdown,
    GradeResult,
)


class OutputError(ValueError):
    """The model's output could not be turned into a grade."""


class InvalidJSON(OutputError):
    kind = "invalid_json"  # the label of r4h_llm_errors_total (ready4hire/metrics.py)


class SchemaMismatch(OutputError):
    kind = "schema_invalid"


class _LooseBreakdown(BaseModel):
    model_config = ConfigDict(extra="ignore")

    completeness: float
    technical_depth: float
    clarity: float
    key_concepts: float


class _LooseGrade(BaseModel):
    """The grade's shape without its bounds: what we accept before clamping."""

    model_config = ConfigDict(extra="ignore")

    score: float
    breakdown: _LooseBreakdown
    justification: str
    strengths: list[str]
    improvements: list[str]
    concepts_covered: list[str]
    missing_concepts: list[str]


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def extract_json_object(text: str) -> dict[str, Any]:
    """Read the JSON object in `text`, tolerating code fences and chatter around it."""
    stripped = (text or "").strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        start = stripped.find("{")
        if start < 0:
            raise InvalidJSON("no JSON object in the model output") from None
        try:
            value, _ = json.JSONDecoder().raw_decode(stripped[start:])
        except json.JSONDecodeError as exc:
            raise InvalidJSON(f"invalid JSON in the model output: {exc.msg} at char {exc.pos}") from None
    if not isinstance(value, dict):
        raise InvalidJSON(f"expected a JSON object, got {type(value).__name__}")
    return value


def _clean_list(items: list[str]) -> list[str]:
    seen: set[str] = set()
    cleaned: list[str] = []
    for item in items:
        text = " ".join(str(item).split())[:MAX_ITEM_CHARS]
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            cleaned.append(text)
        if len(cleaned) == MAX_LIST_ITEMS:
            break
    return cleaned


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def reconcile_breakdown(score: float, parts: dict[str, float]) -> dict[str, float]:
    """Scale the breakdown so it sums to `score`, each part within its maximum.

    The score is the grader's overall judgement, so the breakdown bends to it, never the reverse. Parts
    are scaled proportionally; a part that would pass its maximum is capped and the rest is shared by the
    others (water filling). A breakdown of zeros is spread by the maxima.
    """
    clamped = {name: min(max(_finite(parts.get(name, 0.0)), 0.0), top) for name, top in BREAKDOWN_MAXIMA.items()}
    weights = clamped if sum(clamped.values()) > 0 else dict(BREAKDOWN_MAXIMA)
    result = dict.fromkeys(BREAKDOWN_MAXIMA, 0.0)
    remaining = score
    free = set(BREAKDOWN_MAXIMA)
    while remaining > 1e-9 and free:
        total_weight = sum(weights[name] for name in free)
        shares = {
            name: remaining * (weights[name] / total_weight if total_weight > 0 else 1 / len(free)) for name in free
        }
        overflowing = [name for name in sorted(free) if result[name] + shares[name] > BREAKDOWN_MAXIMA[name]]
        if not overflowing:
            for name in free:
                result[name] += shares[name]
            break
        for name in overflowing:
            remaining -= BREAKDOWN_MAXIMA[name] - result[name]
            result[name] = BREAKDOWN_MAXIMA[name]
            free.discard(name)
    rounded = {name: round(value, 2) for name, value in result.items()}
    # Rounding can leave a cent over or under; give it to a part that has room so the sum is exact.
    drift = round(score - sum(rounded.values()), 2)
    if drift:
        for name in sorted(rounded, key=lambda n: BREAKDOWN_MAXIMA[n] - rounded[n], reverse=drift < 0):
            adjusted = round(rounded[name] + drift, 2)
            if 0 <= adjusted <= BREAKDOWN_MAXIMA[name]:
                rounded[name] = adjusted
                break
    return rounded


def normalise_grade(data: dict[str, Any]) -> GradeResult:
    """Check the shape of a decoded grade, clamp it to the schema and reconcile score and breakdown."""
    try:
        loose = _LooseGrade.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise SchemaMismatch(f"output does not match the grade schema: {problems}") from None
    score = round(min(max(_finite(loose.score), 0.0), SCORE_MAX), 1)
    breakdown = reconcile_breakdown(score, loose.breakdown.model_dump())
    return GradeResult(
        score=score,
        breakdown=Breakdown(**breakdown),
        justification=" ".join(loose.justification.split())[:MAX_JUSTIFICATION_CHARS],
        strengths=_clean_list(loose.strengths),
        improvements=_clean_list(loose.improvements),
        concepts_covered=_clean_list(loose.concepts_covered),
        missing_concepts=_clean_list(loose.missing_concepts),
    )


def parse_grade(text: str) -> GradeResult:
    """Raw model text → a clamped, reconciled grade, or `InvalidJSON` / `SchemaMismatch`."""
    return normalise_grade(extract_json_object(text))
