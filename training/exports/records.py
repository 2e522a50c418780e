"""One example as a training record: the columns an export reads and the record a format makes of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

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


def export_record(fmt: str, row: dict[str, Any]) -> dict[str, Any]:
    """One example (a dict of EXPORT_ROW_FIELDS) as a training record in `fmt`, prompted as the live grader is.

    The request is normalised exactly as a live grading request is, so training sees the served text.
    """
    request = GradingRequest.from_snapshot(row)
    with _label_errors(row):
        return format_example(fmt, request=request, label=row["label"], rejected=row.get("original_label"))


def export_line(formatter: LineFormatter, row: dict[str, Any]) -> bytes:
    """`export_record(formatter.fmt, row)` as the compact UTF-8 JSON line an export file holds (no newline)."""
    request = GradingRequest.from_snapshot(row)
    with _label_errors(row):
        return formatter.line(request=request, label=row["label"], rejected=row.get("original_label"))


@contextmanager
def _label_errors(row: dict[str, Any]) -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        raise InvalidInput(
            f"Training example {row['id']} has a label that does not follow the output schema: "
            f"{exc.errors()[0]['msg']}.",
            field="label",
        ) from None
