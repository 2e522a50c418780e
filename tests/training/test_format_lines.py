"""Tests of the export's line formatter: each line is exactly the compact JSON of the format's record."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from evaluation.llm.heuristic import heuristic_grade
from evaluation.llm.schema import GradingRequest
from training.formats import FORMATS, PREFERENCE, LineFormatter, format_example

REQUESTS = [
    GradingRequest.normalised(
        question='What is a "database index"? \\ back\u2028slash',
        answer="A B-tree:\n\tfinds rows without a full scan. ✓ 😀 </script>",
        expected_concepts=["B-tree", "full scan"],
        keywords=["índice"],
        language=language,
        role="Backend Developer",
    )
    for language in ("en", "es")
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_line_is_the_compact_json_of_the_record_byte_for_byte(fmt):
    formatter = LineFormatter(fmt)
    for request in REQUESTS * 2:  # the second round uses the cached system prompts
        label = heuristic_grade(request).model_dump()
        rejected = dict(label, score=round(10 - label["score"], 1)) if fmt == PREFERENCE else None
        record = format_example(fmt, request=request, label=label, rejected=rejected)
        line = formatter.line(request=request, label=label, rejected=rejected)
        assert line == json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_a_line_refuses_what_the_record_refuses():
    request = REQUESTS[0]
    label = heuristic_grade(request).model_dump()
    with pytest.raises(ValueError, match="unknown format"):
        LineFormatter("csv")
    with pytest.raises(ValueError, match="original grade"):
        LineFormatter(PREFERENCE).line(request=request, label=label)
    with pytest.raises(ValidationError):
        LineFormatter("messages").line(request=request, label=dict(label, score=11))
