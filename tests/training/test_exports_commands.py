"""`manage.py export_dataset`: writes a version and prints it, previews without writing, names bad options."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training.models import DatasetExport

from .factories import TrainingExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def run(*args: str) -> str:
    out = StringIO()
    call_command("export_dataset", *args, stdout=out)
    return out.getvalue()


def test_export_prints_the_version_counts_and_paths(media_root):
    TrainingExampleFactory.create_batch(6, review_status="approved")
    TrainingExampleFactory.create_batch(3, review_status="approved", category="soft_skills", source="human")
    TrainingExampleFactory.create_batch(2, review_status="approved", source="heuristic")

    output = run("--name", "ready4hire", "--format", "alpaca", "--train-split", "0.8", "--seed", "42")

    assert "Exported ready4hire version 1 (alpaca)." in output
    assert "7 train, 2 validation (9 matched, 0 dropped by balancing)" in output
    assert "val by category: soft_skills 1, technical 1" in output
    train = media_root / "datasets" / "ready4hire" / "v1" / "ready4hire_train.jsonl"
    assert f"train: {train}" in output and train.is_file()
    assert "version 2" in run("--source", "human,llm", "--status", "approved")


def test_filters_and_balancing_from_the_command_line():
    TrainingExampleFactory.create_batch(6, review_status="approved", score=8.0)
    TrainingExampleFactory.create_batch(2, review_status="approved", category="soft_skills", score=8.0)
    TrainingExampleFactory.create_batch(2, review_status="approved", score=1.0, language="es", difficulty="junior")

    run("--balance-categories")
    assert DatasetExport.objects.get().counts["total"]["by_category"] == {"soft_skills": 2, "technical": 2}
    run("--min-score", "5", "--category", "technical")
    assert DatasetExport.objects.get(version=2).counts["matched"] == 6
    run("--language", "es", "--difficulty", "junior,mid", "--source", "llm", "--source", "human")
    assert DatasetExport.objects.get(version=3).counts["matched"] == 2


def test_preview_prints_formatted_examples_and_writes_nothing(media_root):
    TrainingExampleFactory.create_batch(4, review_status="approved")
    output = run("--format", "sharegpt", "--preview", "2")
    records = [json.loads(chunk) for chunk in output.replace("}\n{", "}\x00{").split("\x00")]
    assert len(records) == 2 and [turn["from"] for turn in records[0]["conversations"]] == ["system", "human", "gpt"]
    assert not DatasetExport.objects.exists() and not (media_root / "datasets").exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--train-split", "1.5"], "--train-split"),
        (["--source", "robot"], "--source"),
        (["--status", "maybe"], "--status"),
        (["--category", "cooking"], "--category"),
        (["--min-score", "11"], "--min-score"),
        (["--format", "csv"], "--format"),
        (["--name", "two words"], "--name"),
        (["--preview", "0"], "--preview"),
        (["--source", ","], "--source"),
    ],
)
def test_bad_arguments_name_the_option(args, option):
    TrainingExampleFactory.create_batch(3, review_status="approved")
    with pytest.raises(CommandError, match=option):
        run(*args)
    assert not DatasetExport.objects.exists()


def test_nothing_to_export_is_a_clear_error(media_root):
    TrainingExampleFactory(review_status="pending")
    with pytest.raises(CommandError, match="No examples match the filters"):
        run()
    with pytest.raises(CommandError, match="No examples match the filters"):
        run("--preview", "3")
    assert not (media_root / "datasets").exists()
