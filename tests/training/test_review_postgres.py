"""Reviewers working the same queue at the same moment, on PostgreSQL: the reservation is a conditional update
and a review locks its example, so nobody gets an example someone else holds and no review is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from ready4hire.errors import Conflict
from training.models import Review, TrainingExample
from training.selectors import ReviewQueue
from training.services import collection_settings_update, example_reserve_next, example_review

from .factories import TrainingExampleFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 6


def race(work: Callable[[int], object]) -> list[object]:
    """Run work(0..WORKERS-1) in threads released together; re-raise the first error here."""
    barrier = threading.Barrier(WORKERS)
    results: list[object] = [None] * WORKERS
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.fixture
def reviewers(postgres, django_user_model):
    assert connection.vendor == "postgresql"
    return [django_user_model.objects.create_user(username=f"r{index}", is_staff=True) for index in range(WORKERS)]


def test_reviewers_asking_at_once_each_get_a_different_example(reviewers):
    TrainingExampleFactory.create_batch(WORKERS + 2)
    held = race(lambda index: example_reserve_next(queue=ReviewQueue(), reviewer=reviewers[index]).pk)
    assert len(set(held)) == WORKERS
    owners = dict(TrainingExample.objects.filter(pk__in=held).values_list("pk", "reserved_by__username"))
    assert sorted(owners.values()) == sorted(user.username for user in reviewers)


def test_reviews_arriving_at_once_all_count_and_decide_once(reviewers):
    collection_settings_update(reviews_required=5)
    example = TrainingExampleFactory(score=6.0)
    statuses = race(lambda index: _review_or_refusal(example, reviewers[index]))
    # Five reviews decide it; the sixth reviewer, arriving after the decision, is told it is decided.
    assert sorted(statuses) == ["approved", "conflict"] + ["pending"] * 4
    example.refresh_from_db()
    assert example.review_status == "approved" and example.version == 5
    assert Review.objects.filter(example=example, current=True).count() == 5


def _review_or_refusal(example: TrainingExample, reviewer) -> str:
    try:
        return example_review(example=example, reviewer=reviewer, action="approve")
    except Conflict:
        return "conflict"
