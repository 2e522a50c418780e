"""Management commands as an operator runs them: output, exit codes, and what ends up stored."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import ApiKey, Evaluation
from training.demo import DEMO_REVIEW_NOTE
from training.models import TrainingExample

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_the_key_alone_on_the_last_line(client):
    out, _ = run("create_api_key", "frontend")
    raw_key = out.strip().splitlines()[-1]
    assert raw_key.startswith("r4h_") and " " not in raw_key
    assert ApiKey.objects.get(name="frontend").key_hash == ApiKey.hash_key(raw_key)
    response = client.get("/api/v1/evaluations/1", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert response.status_code == 404  # authenticated: the evaluation just does not exist


def test_create_api_key_twice_is_an_error():
    run("create_api_key", "frontend")
    with pytest.raises(CommandError, match="already exists"):
        run("create_api_key", "frontend")


def test_evaluate_one_answer_from_arguments():
    out, err = run(
        "evaluate",
        "--question",
        "What is a race condition?",
        "--answer",
        "A race condition happens when two threads access shared data and the result depends on timing; "
        "a lock or an atomic operation prevents it.",
        "--concepts",
        "shared data,timing,lock",
        "--language",
        "en",
    )
    assert "score" in out and "heuristic" in err
    evaluation = Evaluation.objects.get()
    assert evaluation.expected_concepts == ["shared data", "timing", "lock"]


def test_evaluate_rejects_an_unknown_category():
    with pytest.raises(CommandError, match="category"):
        run("evaluate", "--question", "Q?", "--answer", "A.", "--category", "cooking")
    assert Evaluation.objects.count() == 0


def test_evaluate_a_file_grades_valid_lines_and_reports_bad_ones(tmp_path):
    requests = tmp_path / "requests.jsonl"
    good = {"question": "What is an index?", "answer": "A B-tree that finds rows fast.", "language": "en"}
    requests.write_text(
        "\n".join([json.dumps(good), "{not json", json.dumps({**good, "answer": ""}), json.dumps(good)]) + "\n"
    )
    output = tmp_path / "results.jsonl"
    with pytest.raises(CommandError, match="2 of 4 requests were invalid"):
        run("evaluate", "--file", str(requests), "--output", str(output))
    assert Evaluation.objects.count() == 2
    results = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["line"] for r in results] == [1, 4]
    assert all(r["result"]["score"] >= 0 for r in results)


def test_evaluate_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="File not found"):
        run("evaluate", "--file", str(tmp_path / "nope.jsonl"))


def test_demo_runs_the_loop_and_grades_answers_of_different_quality(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FINETUNE_TINY_VOCAB_SIZE = 512
    settings.LLM_NUM_PREDICT = 32
    out, _ = run(
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
    if "fine-tune run #" in out:  # with the [train] extra: the run's real losses, never a placeholder
        assert "training loss" in out and "loss 0.000" not in out
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
