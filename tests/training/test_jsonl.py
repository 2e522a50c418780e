"""JSONL import and export in the original collector's format."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from ready4hire.errors import InvalidInput
from training.models import TrainingExample
from training.services import examples_export_jsonl, examples_import
from training.services.jsonl import ORIGINAL_FIELDS

from .factories import TrainingExampleFactory, grade

pytestmark = pytest.mark.django_db


def original_line(number: int = 0, **overrides) -> dict:
    """A line as the original TrainingDataCollector wrote it."""
    label = grade(7.0)
    record = {
        "question": f"¿Qué es la programación orientada a objetos? ({number})",
        "answer": "Un paradigma basado en objetos que combinan datos y comportamiento, con herencia y polimorfismo.",
        "expected_concepts": ["herencia", "polimorfismo", "encapsulamiento"],
        "keywords": ["POO", "objetos"],
        "category": "technical",
        "difficulty": "mid",
        "role": "Backend Developer",
        "score": label["score"],
        "breakdown": label["breakdown"],
        "justification": label["justification"],
        "strengths": ["menciona herencia"],
        "improvements": ["falta encapsulamiento"],
        "concepts_covered": ["herencia", "polimorfismo"],
        "missing_concepts": ["encapsulamiento"],
        "evaluation_source": "llm",
        "model_used": "llama3.2:3b",
        "created_at": f"2025-01-14T10:{number % 60:02d}:00.123456",
    }
    record.update(overrides)
    return record


def lines(*records) -> list[str]:
    return [json.dumps(record, ensure_ascii=False) + "\n" for record in records]


def test_original_lines_become_pending_examples():
    report = examples_import(lines=lines(original_line(1), original_line(2)))
    assert (report.lines, report.imported, report.duplicates, report.invalid) == (2, 2, 0, 0)
    example = TrainingExample.objects.get(question__endswith="(1)")
    assert example.review_status == TrainingExample.ReviewStatus.PENDING
    assert example.evaluation is None
    assert example.score == 7.0 and example.label["breakdown"] == original_line()["breakdown"]
    assert example.source == "llm" and example.model == "llama3.2:3b"
    assert example.created_at == datetime(2025, 1, 14, 10, 1, 0, 123456, tzinfo=UTC)


def test_duplicates_in_the_file_and_in_the_database_are_counted_not_stored():
    examples_import(lines=lines(original_line(1)))
    same_but_shouted = original_line(2, question=original_line(2)["question"].upper())
    report = examples_import(lines=lines(original_line(1), original_line(2), same_but_shouted, original_line(3)))
    assert (report.imported, report.duplicates, report.invalid) == (2, 2, 0)
    assert TrainingExample.objects.count() == 3


def test_invalid_lines_are_reported_with_their_numbers_and_the_rest_imports():
    bad = [
        "not json at all\n",
        "[1, 2]\n",
        json.dumps(original_line(2, score=14)) + "\n",
        json.dumps(original_line(3, breakdown={"completeness": 1})) + "\n",
        json.dumps(original_line(4, category="cooking")) + "\n",
        json.dumps(original_line(5, created_at="yesterday")) + "\n",
        json.dumps({k: v for k, v in original_line(6).items() if k != "answer"}) + "\n",
        json.dumps(original_line(7, keywords="POO")) + "\n",
        b"\xff\xfe broken bytes\n",
    ]
    report = examples_import(lines=[*lines(original_line(1)), "\n", *bad, *lines(original_line(8))])
    assert (report.imported, report.invalid) == (2, 9)
    numbers = [number for number, _ in report.errors]
    assert numbers == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    messages = dict(report.errors)
    assert "not valid JSON" in messages[3]
    assert "not a JSON object" in messages[4]
    assert messages[5].startswith("score:")
    assert messages[6].startswith("breakdown.")
    assert "category" in messages[7]
    assert "created_at" in messages[8]
    assert "answer" in messages[9]
    assert "keywords" in messages[10]
    assert "UTF-8" in messages[11]
    assert report.summary() == "11 lines: 2 imported, 0 duplicates skipped, 9 invalid"


def test_batches_import_everything_once():
    records = [original_line(number) for number in range(25)]
    report = examples_import(lines=lines(*records, *records[:5]), batch_size=4)
    assert (report.imported, report.duplicates) == (25, 5)
    assert TrainingExample.objects.count() == 25


def test_batch_size_must_be_positive():
    with pytest.raises(InvalidInput):
        examples_import(lines=[], batch_size=0)


def test_a_round_trip_through_export_loses_nothing():
    originals = [original_line(number) for number in range(3)]
    originals[1].update(evaluation_source="human", role="", strengths=[], model_used="")
    examples_import(lines=lines(*originals))
    out = io.StringIO()
    # Issue 9: the full format is now the default; the original collector's format is asked for by name.
    assert examples_export_jsonl(out=out, fmt="legacy") == 3
    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [list(record) for record in exported] == [list(ORIGINAL_FIELDS)] * 3
    for original, record in zip(originals, exported, strict=True):
        assert datetime.fromisoformat(record.pop("created_at")) == datetime.fromisoformat(
            original.pop("created_at")
        ).replace(tzinfo=UTC)
        assert record == original

    # And back in: the same examples, so every line is a duplicate.
    assert examples_import(lines=out.getvalue().splitlines()).duplicates == 3


def test_the_full_export_carries_review_state_and_the_machine_label():
    example = TrainingExampleFactory(
        language="en",
        review_status="approved",
        review_note="ok",
        original_label=grade(3.0),
        original_score=3.0,
        source="human",
    )
    out = io.StringIO()
    examples_export_jsonl(out=out)
    record = json.loads(out.getvalue())
    assert record["language"] == "en" and record["review_status"] == "approved"
    assert record["original_label"] == grade(3.0)

    example.delete()
    report = examples_import(lines=out.getvalue().splitlines())
    assert report.imported == 1
    restored = TrainingExample.objects.get()
    for field in (
        "question",
        "answer",
        "label",
        "score",
        "original_label",
        "original_score",
        "language",
        "review_status",
        "review_note",
        "source",
        "created_at",
        "prompt_version",
    ):
        assert getattr(restored, field) == getattr(example, field), field


def test_export_filters_by_queryset():
    TrainingExampleFactory(review_status="approved")
    TrainingExampleFactory(review_status="rejected")
    out = io.StringIO()
    written = examples_export_jsonl(out=out, examples=TrainingExample.objects.filter(review_status="approved"))
    assert written == 1 and len(out.getvalue().splitlines()) == 1
