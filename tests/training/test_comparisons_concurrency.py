"""A comparison grades models × repeats × rows with LLM_CONCURRENCY requests in flight, and records exactly
what the one-at-a-time run records, in the same order; a failing grade is that row's error only."""

from __future__ import annotations

import pytest

from evaluation.llm.clients import LLMError
from tests.llm_servers import FakeOllamaServer
from training.models import ComparisonItem, JobStatus
from training.services import comparison_create_and_run

from .comparison_helpers import ANSWERS, reviewed_example

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("comparison_settings")]


@pytest.fixture
def examples():
    return [reviewed_example(f"{answer} {n}", 5.0) for n in range(3) for answer in ANSWERS]


def _items(run) -> list[tuple]:
    return list(
        ComparisonItem.objects.filter(run=run)
        .order_by("pk")
        .values_list("model_label", "example_id", "repeat", "score", "valid_json", "schema_valid", "output", "error")
    )


def _compare(server, *, concurrency):
    models = [("base", f"llama3.2:3b@ollama+{server.base_url}"), ("ft", f"llama3.2:3b@ollama+{server.base_url}")]
    return comparison_create_and_run(models=models, repeats=2, seed=7, concurrency=concurrency)


def test_a_concurrent_comparison_records_what_the_sequential_one_does(examples):
    with FakeOllamaServer(default_mode="slow", slow_seconds=0.05) as server:
        sequential = _compare(server, concurrency=1)
        assert server.max_in_flight == 1
        concurrent = _compare(server, concurrency=6)
        assert server.max_in_flight == 6

    assert concurrent.status == JobStatus.DONE and concurrent.progress == 100
    assert _items(concurrent) == _items(sequential)  # same rows, in the same order
    assert len(_items(concurrent)) == 2 * 2 * len(examples)
    assert _without_latency(concurrent.report["models"]) == _without_latency(sequential.report["models"])


def _without_latency(models: dict) -> dict:
    return {label: {k: v for k, v in figures.items() if "latency" not in k} for label, figures in models.items()}


def test_a_grade_that_breaks_is_that_rows_error_and_the_others_are_graded(examples, monkeypatch):
    from training.services import comparisons

    real = comparisons.grade_one
    broken = examples[4].pk

    def grade_one(run, client, label, example, repeat):
        if example.pk == broken and label == "ft":
            raise LLMError("the connection broke in an unexpected way")
        return real(run, client, label, example, repeat)

    monkeypatch.setattr(comparisons, "grade_one", grade_one)
    with FakeOllamaServer() as server:
        run = _compare(server, concurrency=4)

    assert run.status == JobStatus.DONE
    rows = _items(run)
    failed = [row for row in rows if row[7]]
    assert {(row[0], row[1]) for row in failed} == {("ft", broken)} and len(failed) == 2
    assert all(row[5] for row in rows if not row[7])
