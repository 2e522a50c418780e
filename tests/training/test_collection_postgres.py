"""Concurrent collection on PostgreSQL: the unique content hash, not Python, keeps one example per answer."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from training.models import TrainingExample
from training.services import Collected, example_collect

from .factories import grade

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 8


def test_concurrent_collection_of_the_same_answer_leaves_one_row(postgres):
    assert connection.vendor == "postgresql"
    barrier = threading.Barrier(WORKERS)
    outcomes: list[Collected] = []
    errors: list[BaseException] = []

    def collect(variant: int) -> None:
        try:
            with transaction.atomic():
                # Each thread writes the same answer, spelled a little differently, in its own transaction,
                # the way grading workers do; the barrier makes the inserts race.
                answer = "A mutex in CPython:  one thread runs bytecode at a time." + " " * variant
                barrier.wait(timeout=10)
                result = example_collect(
                    question="¿Qué es el GIL?" if variant % 2 else "¿que es el gil?",
                    answer=answer.upper() if variant % 3 == 0 else answer,
                    label=grade(7.0),
                    source="llm",
                )
            outcomes.append(result.outcome)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=collect, args=(variant,)) for variant in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    assert sorted(outcomes) == sorted([Collected.CREATED] + [Collected.DUPLICATE] * (WORKERS - 1))
    assert TrainingExample.objects.count() == 1
