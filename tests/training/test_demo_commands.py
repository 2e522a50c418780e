"""`manage.py demo` as `make demo` runs it: every step's output, the grades file, and options refused."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training.demo.steps import DEMO_REVIEW_NOTE
from training.finetune.deps import missing_train_packages
from training.models import TrainingExample

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_demo_runs_the_loop_and_grades_answers_of_different_quality(tmp_path, settings, media_root):
    settings.FINETUNE_TINY_VOCAB_SIZE = 512
    settings.LLM_NUM_PREDICT = 32
    out, err = run(
        "demo",
        "--num-samples",
        "2",
        "--output-dir",
        str(tmp_path),
        "--practice-subsets",
        "0",
        "--finetune-steps",
        "3",
        "--compare-limit",
        "2",
    )
    assert "No LLM configured" in out
    assert "approved automatically" in out and "ready4hire-demo v1" in out
    assert (tmp_path / "Modelfile").read_text().startswith("FROM ")
    if missing_train_packages():
        assert "Skipped: Fine-tuning needs the [train] extra" in out
    else:  # the run's real losses, never a placeholder, then the comparison, in this process: no [serve] needed
        assert "training loss" in out and "loss 0.000" not in out
        assert "graded 2 validation examples in this process" in out
        table = out[out.index("model  valid JSON") :].splitlines()
        assert table[1].split()[0] == "base" and table[2].split()[0] == "ft" and "gate" in out
        # Each long step shows a bar with the time left.
        for bar in ("grading: 100%", "fine-tune: 100%", "comparing: 100%"):
            assert bar in err
        assert "left]" in err
    # An admin page is never named without the way to start the server it is on.
    assert "manage.py runserver" in out
    assert all("http://127.0.0.1:8000/admin/" in line for line in out.splitlines() if "/admin/" in line)
    assert "Demo finished" in out
    grades = [json.loads(line) for line in (tmp_path / "demo_grades.jsonl").read_text().splitlines()]
    assert len(grades) == 6
    by_question: dict[str, dict[str, float]] = {}
    for grade in grades:
        by_question.setdefault(grade["question"], {})[grade["quality"]] = grade["result"]["score"]
    for scores in by_question.values():
        assert scores["strong"] > scores["partial"] > scores["off-topic"]
    # Reviewed by the demo, never silently: every approval carries the demo's note.
    assert not TrainingExample.objects.exclude(review_note=DEMO_REVIEW_NOTE).filter(review_status="approved").exists()


def test_demo_refuses_bad_options():
    with pytest.raises(CommandError, match="--num-samples must be at least 1"):
        run("demo", "--num-samples", "0")
