"""LLM_CONCURRENCY: the batch primitive, batch grading (`evaluate --file`) and validation probes keep several
requests in flight, yet give what the sequential run gives, in the same order; bad values are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evaluation.batch import batch_map, concurrency_checked, in_input_order
from evaluation.models import Evaluation
from ready4hire.errors import InvalidInput
from tests.llm_servers import FakeOllamaServer

ROOT = Path(__file__).resolve().parents[2]


def test_results_keep_the_input_order_when_a_slow_item_finishes_last():
    def call(n: int) -> int:
        if n == 0:
            time.sleep(0.3)  # the first item is the slowest: it finishes after all the others
        return n * n

    finished: list[int] = []
    outcomes = batch_map(call, list(range(10)), concurrency=4, on_done=lambda o: finished.append(o.index))

    assert [o.value for o in outcomes] == [n * n for n in range(10)]
    assert finished[-1] == 0  # the slow item did not hold the others back
    assert sorted(finished) == list(range(10))


def test_a_failing_item_is_its_own_outcome_and_the_others_go_on():
    def call(n: int) -> int:
        if n == 3:
            raise ValueError("bad item")
        return n

    outcomes = batch_map(call, list(range(8)), concurrency=3)

    assert [o.ok for o in outcomes] == [n != 3 for n in range(8)]
    assert isinstance(outcomes[3].error, ValueError)
    assert [o.value for o in outcomes if o.ok] == [0, 1, 2, 4, 5, 6, 7]


def test_the_limit_is_honoured_and_reached():
    lock, running, most = threading.Lock(), [0], [0]

    def call(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return n

    batch_map(call, list(range(20)), concurrency=5)
    assert most[0] == 5


def test_items_are_read_lazily_one_per_free_worker():
    read: list[int] = []

    def items():
        for n in range(6):
            read.append(n)
            yield n

    def call(n: int) -> int:
        time.sleep(0.05)
        return len(read)  # how many items had been read when this call ran

    outcomes = batch_map(call, items(), concurrency=2)
    assert outcomes[0].value <= 3  # the first calls started before the whole input was read
    assert [o.index for o in outcomes] == list(range(6))


def test_in_input_order_hands_outcomes_over_in_order():
    got: list[int] = []
    outcomes = batch_map(lambda n: time.sleep(0.01 * (5 - n)) or n, list(range(5)), concurrency=5)
    on_done = in_input_order(lambda o: got.append(o.index))
    for outcome in reversed(outcomes):
        on_done(outcome)
    assert got == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("value", [0, -1, 257])
def test_out_of_range_concurrency_is_refused(value):
    with pytest.raises(InvalidInput, match="between 1 and 256"):
        concurrency_checked(value)


@pytest.mark.parametrize("value", ["0", "257", "many"])
def test_a_bad_concurrency_option_is_a_command_error(value, tmp_path):
    with pytest.raises(CommandError, match="--concurrency"):
        call_command("evaluate", "--file", str(tmp_path / "x.jsonl"), "--concurrency", value)


@pytest.mark.parametrize("value", ["0", "300"])
def test_a_bad_llm_concurrency_setting_stops_start_up(value):
    env = {**os.environ, "LLM_CONCURRENCY": value, "DJANGO_SETTINGS_MODULE": "ready4hire.settings"}
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "LLM_CONCURRENCY must be between 1 and 256" in run.stderr


# --- batch grading through the real grading path ---------------------------------------------------------


@pytest.fixture
def ollama(settings, ollama_server):
    settings.LLM_BACKEND = "ollama"
    settings.LLM_BASE_URL = ollama_server.base_url
    settings.LLM_MODEL = "llama3.2:3b"
    settings.LLM_RETRY_BACKOFF = 0
    settings.LLM_MAX_RETRIES = 0
    return ollama_server


def _requests_file(tmp_path: Path, answers: list[str]) -> Path:
    lines = [
        json.dumps(
            {
                "question": "What is a Python decorator?",
                "answer": answer,
                "expected_concepts": ["function", "wrapper"],
                "category": "technical",
                "difficulty": "mid",
                "language": "en",
            }
        )
        for answer in answers
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _stored(since_id: int) -> list[tuple]:
    return list(
        Evaluation.objects.filter(pk__gt=since_id)
        .order_by("pk")
        .values_list("answer", "cache_key", "status", "source", "model", "score", "result", "from_cache", "error")
    )


# Distinct answers, one repeated: its second copy must come from the cache, as it does one after the other.
ANSWERS = [f"A decorator is a function wrapper number {n}." for n in range(9)]
ANSWERS.append(ANSWERS[2])


@pytest.mark.django_db
def test_concurrent_batch_grading_equals_the_sequential_run(ollama, tmp_path):
    path = _requests_file(tmp_path, ANSWERS)

    call_command("evaluate", "--file", str(path), "--output", str(tmp_path / "one.jsonl"), "--concurrency", "1")
    sequential = _stored(0)
    Evaluation.objects.all().delete()
    ollama.clear_requests()
    call_command("evaluate", "--file", str(path), "--output", str(tmp_path / "eight.jsonl"), "--concurrency", "8")
    concurrent = _stored(0)

    assert concurrent == sequential
    assert [row[0] for row in concurrent] == ANSWERS  # rows created in input order
    assert [row[7] for row in concurrent] == [False] * 9 + [True]  # the repeat hit the cache
    assert len(ollama.chat_requests) == 9
    lines = [json.loads(line) for line in (tmp_path / "eight.jsonl").read_text().splitlines()]
    assert [line["line"] for line in lines] == list(range(1, 11))
    assert [line["result"] for line in lines] == [row[6] for row in concurrent]


@pytest.mark.django_db
def test_batch_grading_keeps_the_limit_of_requests_in_flight(ollama, tmp_path):
    ollama.default_mode = "slow"
    ollama.slow_seconds = 0.3
    path = _requests_file(tmp_path, [f"A decorator wraps a function ({n})." for n in range(12)])

    call_command("evaluate", "--file", str(path), "--concurrency", "3")

    assert ollama.max_in_flight == 3
    assert Evaluation.objects.filter(status="done", source="llm").count() == 12


@pytest.mark.django_db
def test_llm_faults_in_a_batch_fall_back_item_by_item(ollama, tmp_path, settings):
    settings.LLM_TIMEOUT = 0.5
    ollama.script("error_500", "garbage_envelope")
    path = _requests_file(tmp_path, [f"A decorator wraps a function ({n})." for n in range(6)])

    call_command("evaluate", "--file", str(path), "--concurrency", "4")

    rows = Evaluation.objects.order_by("pk")
    assert [row.status for row in rows] == ["done"] * 6
    # Which items met the faults depends on arrival order; how many did does not.
    assert sorted(row.source for row in rows).count("heuristic") == 2
    assert all(row.error for row in rows if row.source == "heuristic")


@pytest.mark.django_db
def test_a_broken_item_is_recorded_and_the_batch_goes_on(ollama, tmp_path, monkeypatch):
    from evaluation import batch_grading

    real = batch_grading.grade_with_llm

    def grade(client, request, **options):
        if request.answer.endswith("(2)."):
            raise RuntimeError("boom")
        return real(client, request, **options)

    monkeypatch.setattr(batch_grading, "grade_with_llm", grade)
    path = _requests_file(tmp_path, [f"A decorator wraps a function ({n})." for n in range(5)])

    with pytest.raises(CommandError, match="1 of 5 requests failed"):
        call_command("evaluate", "--file", str(path), "--concurrency", "3")

    rows = list(Evaluation.objects.order_by("pk"))
    assert [row.status for row in rows] == ["done", "done", "failed", "done", "done"]
    assert "RuntimeError: boom" in rows[2].error


def test_the_validation_probes_run_concurrently_and_report_in_probe_order(settings):
    from training.services.modelfile_validation import ollama_model_validate, validation_probes

    with FakeOllamaServer(models=("probe-me:latest",), default_mode="slow", slow_seconds=0.2) as server:
        settings.OLLAMA_ADMIN_URL = server.base_url
        sequential = ollama_model_validate(name="probe-me", concurrency=1)
        concurrent = ollama_model_validate(name="probe-me", concurrency=4)

    assert server.max_in_flight == 4
    assert [r.probe for r in concurrent.results] == [p.key for p in validation_probes()]
    strip = [(r.probe, r.valid_json, r.schema_valid, r.score) for r in sequential.results]
    assert [(r.probe, r.valid_json, r.schema_valid, r.score) for r in concurrent.results] == strip
