"""An export says what it did: a small export or a category missing from validation warns with the reason and the
filter to change (stored, printed, served by the API), and its files hold no path of the exporting machine."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from training.exports.filters import ExportFilters
from training.exports.warnings import export_warnings
from training.models import DatasetExport
from training.services import dataset_export_submit

from .factories import TrainingExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_the_demo_case_warns_that_the_defaults_exclude_heuristic_grades():
    TrainingExampleFactory.create_batch(2, review_status="approved", source="llm")
    TrainingExampleFactory.create_batch(30, review_status="approved", source="heuristic")
    TrainingExampleFactory.create_batch(4, review_status="pending", source="llm")

    export = dataset_export_submit(wait=True)

    small = export.warnings[0]
    assert small.startswith("Only 2 examples matched (review statuses approved; sources human, llm), fewer than 10")
    assert "the sources filter leaves out 30 examples (heuristic 30): widen it with --source heuristic,human,llm" in (
        small
    )
    assert "the review statuses filter leaves out 4 examples (pending 4): widen it with --status approved,pending" in (
        small
    )
    # The factory's examples are all technical: soft skills are in neither split, and nothing would add them.
    assert export.warnings[1] == (
        "Category soft_skills is left out of train and validation: no example matched. "
        "Grade or import more soft_skills examples."
    )
    assert DatasetExport.objects.get(pk=export.pk).warnings == export.warnings


def test_a_category_with_one_example_trains_and_the_warning_says_which_filter_holds_more(media_root):
    TrainingExampleFactory.create_batch(12, review_status="approved")
    TrainingExampleFactory(review_status="approved", category="soft_skills")
    TrainingExampleFactory.create_batch(3, review_status="approved", category="soft_skills", score=2.0)

    export = dataset_export_submit(filters=ExportFilters(min_score=5), wait=True)

    assert export.warnings == [
        "Category soft_skills is left out of validation: it has a single example, which trains (a model cannot "
        "learn a category it never sees), so nothing measures it. To add some: the min score filter leaves out 3 "
        "examples (below 5 3): lower or drop --min-score (API and admin field min_score)."
    ]


def test_a_healthy_export_has_no_warning():
    TrainingExampleFactory.create_batch(10, review_status="approved")
    TrainingExampleFactory.create_batch(3, review_status="approved", category="soft_skills")
    assert dataset_export_submit(wait=True).warnings == []


def test_left_out_counts_are_only_queried_when_there_is_something_to_say():
    counts = {"matched": 20, "val": {"by_category": {"technical": 3, "soft_skills": 1}}}

    def never():
        raise AssertionError("queried for a healthy export")

    assert export_warnings(filters=ExportFilters(), counts=counts, left_out=never) == []


def test_the_command_prints_the_id_and_the_warnings_and_the_api_serves_them(api_client):
    TrainingExampleFactory.create_batch(3, review_status="approved")
    TrainingExampleFactory.create_batch(3, review_status="approved", category="soft_skills", source="heuristic")
    out = StringIO()

    call_command("export_dataset", stdout=out)

    export = DatasetExport.objects.get()
    output = out.getvalue()
    assert f"Dataset export id {export.pk}: use it with --dataset {export.pk}." in output
    assert "Warning: Only 3 examples matched" in output and "--source heuristic,human,llm" in output
    assert "Warning: Category soft_skills is left out of train and validation" in output
    body = api_client.get(f"/api/v1/datasets/{export.pk}").json()
    assert body["warnings"] == export.warnings and len(body["warnings"]) == 2


def test_exported_files_hold_no_path_of_the_exporting_machine(media_root):
    TrainingExampleFactory.create_batch(6, review_status="approved")
    export = dataset_export_submit(wait=True)
    directory = media_root / export.files["manifest"]["path"]
    for key in ("guide", "axolotl", "dataset_info", "manifest"):
        text = (media_root / export.files[key]["path"]).read_text(encoding="utf-8")
        assert str(media_root) not in text, key
    guide = (directory.parent / "TRAINING_GUIDE.md").read_text(encoding="utf-8")
    assert "relative to this folder" in guide and '"train": "ready4hire_train.jsonl"' in guide
