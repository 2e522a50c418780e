"""One example as a training record: the columns an export reads and the record a format makes of them."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from evaluation.choices import PromptVariant
from evaluation.llm.schema import GradingRequest
from ready4hire.errors import InvalidInput

from ..formats import LineFormatter, format_example

# The columns an export reads per example: what the prompt, the label and the counts need, nothing more.
EXPORT_ROW_FIELDS = (
    "id",
    "question",
    "answer",
    "expected_concepts",
    "keywords",
    "category",
    "difficulty",
    "role",
    "language",
    "label",
    "original_label",  # the machine's grade a reviewer corrected: the rejected side of a preference pair
    "score",
    "source",
)


def export_record(fmt: str, row: dict[str, Any], variant: str = PromptVariant.FULL) -> dict[str, Any]:
    """One example (a dict of EXPORT_ROW_FIELDS) as a training record in `fmt`, prompted as the live grader is
    (with the system prompt of `variant`).

    The request is normalised exactly as a live grading request is, so training sees the served text.
    """
    request = GradingRequest.from_snapshot(row)
    try:
        return format_example(
            fmt, request=request, label=row["label"], rejected=row.get("original_label"), variant=variant
        )
    except ValidationError as exc:
        raise _label_error(row, exc) from None


def export_line(formatter: LineFormatter, row: dict[str, Any]) -> bytes:
    """`export_record(formatter.fmt, row, formatter.variant)` as the compact UTF-8 JSON line an export file
    holds (no newline)."""
    # Called once per exported example: a plain try costs less than a context manager.
    request = GradingRequest.from_snapshot(row)
    try:
        return formatter.line(request=request, label=row["label"], rejected=row.get("original_label"))
    except ValidationError as exc:
        raise _label_error(row, exc) from None


def _label_error(row: dict[str, Any], exc: ValidationError) -> InvalidInput:
    return InvalidInput(
        f"Training example {row['id']} has a label that does not follow the output schema: {exc.errors()[0]['msg']}.",
        field="label",
    )
