"""import_examples / export_examples from the command line."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training.models import TrainingExample

from .factories import TrainingExampleFactory
from .test_jsonl import original_line

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_reports_imported_duplicates_and_invalid_lines(tmp_path):
    path = tmp_path / "evaluations.jsonl"
    records = [original_line(1), original_line(2), original_line(1)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) + "{broken\n", encoding="utf-8")
    output = run("import_examples", str(path))
    assert "4 lines: 2 imported, 1 duplicates skipped, 1 invalid" in output
    assert "line 4: not valid JSON" in output
    assert TrainingExample.objects.count() == 2


def test_import_of_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        run("import_examples", str(tmp_path / "nope.jsonl"))


def test_export_then_import_into_an_empty_database(tmp_path):
    TrainingExampleFactory(review_status="approved")
    TrainingExampleFactory(review_status="rejected")
    path = tmp_path / "out" / "approved.jsonl"
    assert "Exported 1 examples" in run("export_examples", str(path), "--review-status", "approved")
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1
    TrainingExample.objects.all().delete()
    assert "1 imported" in run("import_examples", str(path))
