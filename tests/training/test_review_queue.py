"""The review queue: one selector with the reviewer's filters and order, next / previous that keep them,
reservations that give two reviewers different examples, and progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from ready4hire.errors import Conflict, InvalidInput
from training.models import TrainingExample
from training.selectors import (
    ReviewQueue,
    review_queue,
    review_queue_examples,
    review_queue_next,
    review_queue_previous,
    review_queue_progress,
)
from training.services import example_reserve, example_reserve_next, example_review

from .factories import TrainingExampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(django_user_model):
    return django_user_model.objects.create_user(username="ana", is_staff=True)


@pytest.fixture
def ben(django_user_model):
    return django_user_model.objects.create_user(username="ben", is_staff=True)


def ids(examples) -> list[int]:
    return [example.pk for example in examples]


def test_each_order_puts_the_right_examples_first(ana):
    now = timezone.now()
    old_disputed = TrainingExampleFactory(disagreement=5.0, uncertainty=0.1, created_at=now - timedelta(days=2))
    new_calm = TrainingExampleFactory(disagreement=0.0, uncertainty=0.2, created_at=now)
    mid_uncertain = TrainingExampleFactory(disagreement=1.0, uncertainty=0.9, created_at=now - timedelta(days=1))

    def order(name: str) -> list[int]:
        return ids(review_queue(queue=ReviewQueue(order=name), reviewer=ana))

    assert order("newest") == ids([new_calm, mid_uncertain, old_disputed])
    assert order("disagreement") == ids([old_disputed, mid_uncertain, new_calm])
    assert order("uncertainty") == ids([mid_uncertain, new_calm, old_disputed])
    assert ReviewQueue().order == "disagreement"  # the default


def test_balance_puts_first_what_the_next_export_lacks_most(ana):
    TrainingExampleFactory.create_batch(3, category="technical", score=6.0, review_status="approved")
    TrainingExampleFactory(category="soft_skills", score=6.0, review_status="approved")
    technical = TrainingExampleFactory(category="technical", score=6.0, disagreement=9.0)
    soft_same_bucket = TrainingExampleFactory(category="soft_skills", score=6.0, disagreement=5.0)
    soft_empty_bucket = TrainingExampleFactory(category="soft_skills", score=1.0, disagreement=0.0)

    queue = ReviewQueue(order="balance")
    assert ids(review_queue(queue=queue, reviewer=ana)) == ids([soft_empty_bucket, soft_same_bucket, technical])


def test_the_queue_holds_pending_examples_the_reviewer_has_not_reviewed(ana, ben):
    mine, theirs, decided = TrainingExampleFactory.create_batch(3)
    TrainingExample.objects.filter(pk=decided.pk).update(review_status="approved")
    example_reserve(example=theirs, reviewer=ben)

    assert ids(review_queue(queue=ReviewQueue(), reviewer=ana)) == [mine.pk]
    assert set(ids(review_queue(queue=ReviewQueue(), reviewer=ben))) == {mine.pk, theirs.pk}


def test_next_and_previous_keep_the_filters_and_the_order(ana):
    english = [TrainingExampleFactory(language="en", disagreement=float(value)) for value in (9, 7, 5, 3)]
    spanish = [TrainingExampleFactory(language="es", disagreement=float(value)) for value in (8, 6, 4)]
    queue = ReviewQueue.from_querydict(QueryDict("language=en&order=disagreement"))

    walk, current = [], review_queue_next(queue=queue, reviewer=ana)
    while current is not None and current.pk not in walk:
        walk.append(current.pk)
        current = review_queue_next(queue=queue, reviewer=ana, after_id=current.pk)
    assert walk == ids(english)  # never a Spanish one, and past the end it wraps to the top
    assert review_queue_previous(queue=queue, reviewer=ana, after_id=english[2].pk).pk == english[1].pk
    assert review_queue_previous(queue=queue, reviewer=ana, after_id=english[0].pk) is None
    # From an example outside the filter (reviewed in the meantime, say), next goes on from its place.
    assert review_queue_next(queue=queue, reviewer=ana, after_id=spanish[1].pk).pk == english[2].pk


def test_next_after_a_review_goes_on_from_where_the_reviewer_was(ana):
    first, second, third = (TrainingExampleFactory(disagreement=float(value)) for value in (3, 2, 1))
    queue = ReviewQueue()
    example_review(example=second, reviewer=ana, action="approve")
    assert review_queue_next(queue=queue, reviewer=ana, after_id=second.pk).pk == third.pk
    assert review_queue_next(queue=queue, reviewer=ana, after_id=third.pk).pk == first.pk


def test_queries_round_trip_and_bad_values_are_refused():
    queue = ReviewQueue(category="technical", language="es", q="índice", min_score=2.5, order="newest")
    assert ReviewQueue.from_querydict(QueryDict(queue.to_querystring())) == queue
    assert ReviewQueue.from_querydict(QueryDict("category__exact=soft_skills&review_status=all")) == ReviewQueue(
        category="soft_skills"
    )
    assert ReviewQueue().to_querystring() == ""
    for query, field in (("order=random", "order"), ("language=fr", "language"), ("min_score=x", "min_score")):
        with pytest.raises(InvalidInput) as error:
            ReviewQueue.from_querydict(QueryDict(query))
        assert error.value.field == field


def test_the_list_page_uses_the_same_filters_with_any_status():
    approved = TrainingExampleFactory(category="soft_skills", review_status="approved", disagreement=1.0)
    pending = TrainingExampleFactory(category="soft_skills", disagreement=2.0)
    TrainingExampleFactory(category="technical")
    assert ids(review_queue_examples(queue=ReviewQueue(category="soft_skills"))) == [pending.pk, approved.pk]


def test_two_reviewers_asking_for_the_next_example_get_different_ones(ana, ben):
    TrainingExampleFactory.create_batch(2)
    first = example_reserve_next(queue=ReviewQueue(), reviewer=ana)
    second = example_reserve_next(queue=ReviewQueue(), reviewer=ben)
    assert first.pk != second.pk
    assert first.reserved_by == ana and first.reserved_until > timezone.now()
    # Asking again gives the reviewer the example they hold, not a third one.
    assert example_reserve_next(queue=ReviewQueue(), reviewer=ana).pk == first.pk
    assert example_reserve_next(queue=ReviewQueue(category="soft_skills"), reviewer=ana) is None


def test_a_reservation_refuses_others_until_it_runs_out(ana, ben):
    example = TrainingExampleFactory()
    example_reserve(example=example, reviewer=ana)
    with pytest.raises(Conflict, match="being reviewed by ana"):
        example_reserve(example=example, reviewer=ben)
    with pytest.raises(Conflict, match="being reviewed by ana"):
        example_review(example=example, reviewer=ben, action="approve")
    assert example_reserve_next(queue=ReviewQueue(), reviewer=ben) is None

    TrainingExample.objects.filter(pk=example.pk).update(reserved_until=timezone.now() - timedelta(seconds=1))
    assert example_reserve_next(queue=ReviewQueue(), reviewer=ben).pk == example.pk
    assert example_review(example=example, reviewer=ben, action="approve") == "approved"


def test_a_reviewer_holds_one_example_at_a_time(ana):
    first, second = TrainingExampleFactory.create_batch(2)
    example_reserve(example=first, reviewer=ana)
    example_reserve(example=second, reviewer=ana)
    first.refresh_from_db()
    assert first.reserved_by is None and first.reserved_until is None


def test_progress_counts_todays_reviews_in_this_queue(ana):
    english = TrainingExampleFactory.create_batch(3, language="en")
    TrainingExampleFactory.create_batch(2, language="es")
    example_review(example=english[0], reviewer=ana, action="approve")
    example_review(example=english[1], reviewer=ana, action="reject")
    assert review_queue_progress(queue=ReviewQueue(language="en"), reviewer=ana) == (2, 3, 2)
    assert review_queue_progress(queue=ReviewQueue(language="es"), reviewer=ana) == (0, 2, 2)
