"""import_examples reports a line whose text cannot be stored (NUL, a lone surrogate, control characters,
an invisible answer, a field longer than its column) like any other bad line, and keeps every valid line of
the same batch."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from training.models import TrainingExample

from .test_jsonl import original_line

pytestmark = pytest.mark.django_db

BAD_LINES = [
    ({"answer": "NUL \x00 in the answer"}, "answer must not contain control characters (found U+0000)"),
    ({"question": "lone \ud800 surrogate"}, "question must not contain lone surrogates"),
    ({"expected_concepts": ["ok", "esc \x1b"]}, "expected_concepts.1 must not contain control characters"),
    ({"justification": "x\x00"}, "justification must not contain control characters"),
    ({"answer": "\u200b\u200b \ufeff"}, "answer must not be empty"),
    ({"role": "r" * 101}, "role must be at most 100 characters"),
    ({"model_used": "m" * 201}, "model must be at most 200 characters"),
]


def test_unstorable_lines_are_reported_and_every_valid_line_of_the_batch_is_kept(tmp_path):
    records = [original_line(1)] + [original_line(10 + i, **bad) for i, (bad, _) in enumerate(BAD_LINES)]
    records.append(original_line(2))
    path = tmp_path / "examples.jsonl"
    # json.dumps escapes NUL and surrogates (\u0000, \ud800): the file is valid UTF-8 JSON Lines.
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")

    out = StringIO()
    call_command("import_examples", str(path), "--no-progress", "--batch-size", "100", stdout=out, stderr=StringIO())
    output = out.getvalue()

    assert f"{len(records)} lines: 2 imported, 0 duplicates skipped, {len(BAD_LINES)} invalid" in output
    for number, (_, message) in enumerate(BAD_LINES, start=2):
        assert f"line {number}: {message}" in output
    assert sorted(TrainingExample.objects.values_list("question", flat=True)) == [
        original_line(1)["question"],
        original_line(2)["question"],
    ]
