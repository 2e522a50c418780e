"""export_examples writes every field by default, so export → import restores each example whole; the
original collector's format stays available with --format legacy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training.models import TrainingExample
from training.services.jsonl import EXTENDED_FIELDS, ORIGINAL_FIELDS

from .factories import TrainingExampleFactory, grade

pytestmark = pytest.mark.django_db

# Every field a round trip must keep: all but this database's own links (the evaluation, the API key, review
# reservations, the edit counter). A field added later is checked too, so the export must learn to carry it.
NOT_CARRIED = {"id", "evaluation", "reviewed_by_key", "reserved_by", "reserved_until", "version"}
KEPT = [field.name for field in TrainingExample._meta.concrete_fields if field.name not in NOT_CARRIED]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot(example: TrainingExample) -> dict:
    return {name: getattr(example, name) for name in KEPT}


def test_export_then_import_loses_nothing(tmp_path, django_user_model):
    ana = django_user_model.objects.create_user("ana")
    reviewed_at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    TrainingExampleFactory(
        language="en",
        role="backend",
        review_status="approved",
        review_note="fair, a bit short",
        reviewed_by=ana,
        reviewed_at=reviewed_at,
        original_label=grade(3.0),
        original_score=3.0,
        source="human",
        model="llama3.2:3b",
        prompt_version="v7",
        opinions={"heuristic-v2": 4.5, "ready4hire:v2": 6.0},
        disagreement=1.5,
        uncertainty=0.25,
    )
    TrainingExampleFactory(review_status="approved", decided_automatically=True)
    TrainingExampleFactory(review_status="pending")
    before = [snapshot(example) for example in TrainingExample.objects.order_by("created_at", "id")]

    path = tmp_path / "all.jsonl"
    assert "Exported 3 examples" in run("export_examples", str(path))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(list(record) == [*ORIGINAL_FIELDS, *EXTENDED_FIELDS] for record in records)

    TrainingExample.objects.all().delete()
    assert "3 imported" in run("import_examples", str(path))
    after = [snapshot(example) for example in TrainingExample.objects.order_by("created_at", "id")]
    assert after == before


def test_the_legacy_format_is_the_original_collectors(tmp_path):
    TrainingExampleFactory(review_status="approved", review_note="kept only in the full format")
    path = tmp_path / "legacy.jsonl"
    run("export_examples", str(path), "--format", "legacy")
    (record,) = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert list(record) == list(ORIGINAL_FIELDS)
    # Old scripts that asked for the extra fields still get them.
    run("export_examples", str(path), "--extended")
    assert json.loads(path.read_text(encoding="utf-8"))["review_note"] == "kept only in the full format"


def test_an_unknown_format_is_refused():
    with pytest.raises(CommandError, match="invalid choice"):
        run("export_examples", "-", "--format", "csv")
