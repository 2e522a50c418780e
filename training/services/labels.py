"""Validation shared by collection, correction and import: a label is the one output schema, strictly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from evaluation.llm.schema import CATEGORIES, DIFFICULTIES, LANGUAGES, GradeResult
from ready4hire.errors import InvalidInput

from ..models import TrainingExample

SOURCES = tuple(TrainingExample.Source.values)
REVIEW_STATUSES = tuple(TrainingExample.ReviewStatus.values)


def label_validate(data: Any, *, field: str = "label") -> GradeResult:
    """The grade in `data`, or InvalidInput naming the first problem. Out-of-range values are errors, not clamped."""
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"The {field or 'label'} must be a JSON object with the grade's fields.", field=field or "label"
        )
    try:
        return GradeResult.model_validate(dict(data))
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(part for part in [field, *(str(part) for part in error["loc"])] if part) or "label"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise InvalidInput(f"{path}: {error['msg']}{more}.", field=path) from None


def snapshot_validate(
    *, question: str, answer: str, category: str, difficulty: str, language: str, source: str
) -> None:
    """The request snapshot of an example must be complete and use the known vocabularies."""
    # `not text or text.isspace()` is `not text.strip()` without copying the text (called once per imported line).
    if not isinstance(question, str) or not question or question.isspace():
        raise InvalidInput("The question must not be empty.", field="question")
    if not isinstance(answer, str) or not answer or answer.isspace():
        raise InvalidInput("The answer must not be empty.", field="answer")
    for field, value, known in (
        ("category", category, CATEGORIES),
        ("difficulty", difficulty, DIFFICULTIES),
        ("language", language, LANGUAGES),
        ("source", source, SOURCES),
    ):
        if value not in known:
            raise InvalidInput(f"Unknown {field} {value!r}: expected one of {', '.join(known)}.", field=field)


def number_validate(value: Any, *, field: str, low: float, high: float) -> float:
    """A finite number within [low, high]; a human's out-of-range input is refused, never clamped."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a number (got {value!r}).", field=field) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidInput(f"{field} must be between {low:g} and {high:g} (got {value!r}).", field=field)
    return number
