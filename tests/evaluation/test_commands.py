"""Management commands as an operator runs them: output, exit codes, and what ends up stored."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import ApiKey, Evaluation

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
