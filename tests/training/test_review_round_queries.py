"""The review screen's cost does not grow with the table: one review round (submit a decision, load the next
example of a filtered queue) makes as many database queries with 200 examples, others' reviews and holds as
with 10. The time of a round is measured in benchmarks/review.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evaluation.models import ApiKey
from training.models import Review, TrainingExample
from training.selectors import ReviewQueue, review_queue, review_queue_remaining
from training.services import collection_settings_update, example_review

from .factories import TrainingExampleFactory

pytestmark = pytest.mark.django_db

REVIEW = reverse("admin:training_trainingexample_review") + "?language=en&order=disagreement"


def add_examples(count: int, start: int) -> list[TrainingExample]:
    """`count` pending examples, half English, with spread between the graders' opinions."""
    return [
        TrainingExampleFactory(
            language=("en", "es")[number % 2],
            score=5.0,
            opinions={"heuristic-v2": round(5.0 - (number % 7) / 2, 1)},
            disagreement=(number % 7) / 2,
        )
        for number in range(start, start + count)
    ]


def review_round(client, page) -> tuple[int, object]:
    """Approve the example `page` shows and load the next one; the number of queries both requests made."""
    form = page.context["form"]
    data = {**{name: "" if value is None else value for name, value in form.initial.items()}, "action": "approve"}
    with CaptureQueriesContext(connection) as queries:
        submitted = client.post(REVIEW, data)
        following = client.get(submitted["Location"])
    assert submitted.status_code == 302 and following.status_code == 200
    return len(queries), following


def test_a_review_round_makes_the_same_queries_with_10_or_200_examples(reviewer_client, reviewer, django_user_model):
    add_examples(10, 0)
    page = reviewer_client.get(REVIEW)
    _, page = review_round(reviewer_client, page)
    small, page = review_round(reviewer_client, page)

    # The table grows twentyfold; another reviewer decides some examples and holds one.
    examples = add_examples(190, 10)
    other = django_user_model.objects.create_user(username="olga", is_staff=True)
    for example in examples[:20]:
        example_review(example=example, reviewer=other, action="approve")
    held = examples[22]  # English: in the queue
    TrainingExample.objects.filter(pk=held.pk).update(
        reserved_by=other, reserved_until=timezone.now() + timedelta(minutes=5)
    )
    page = reviewer_client.get(REVIEW)
    for _ in range(3):
        large, page = review_round(reviewer_client, page)

    assert held.language == "en"
    assert large == small
    assert Review.objects.filter(reviewer=reviewer).count() == 5
    # The progress is still right: what is left is every English pending example but the one olga holds.
    left = TrainingExample.objects.filter(language="en", review_status="pending").exclude(pk=held.pk).count()
    progress = page.context["progress"]
    assert (progress["reviewed"], progress["total"]) == (5, 5 + left)


def test_the_count_of_what_is_left_agrees_with_the_queue_itself(reviewer, django_user_model):
    """The progress counts the queue in pieces (matching rows, others' holds, the reviewer's own reviews);
    the pieces add up to the queue, whoever holds or has reviewed what."""
    collection_settings_update(reviews_required=2)
    examples = add_examples(30, 0)
    other = django_user_model.objects.create_user(username="olga", is_staff=True)
    key = ApiKey.objects.create(name="front-end", key_prefix="r4h_abcd", key_hash="0" * 64)
    soon, past = timezone.now() + timedelta(minutes=5), timezone.now() - timedelta(minutes=5)
    for example in examples[:6]:  # still pending: each needs a second review
        example_review(example=example, reviewer=reviewer, action="approve")
    for example in examples[4:8]:
        example_review(example=example, reviewer=other, action="approve")
    holds = {8: (other, soon), 9: (reviewer, soon), 10: (other, past), 11: (None, soon), 2: (other, soon)}
    for index, (holder, until) in holds.items():
        TrainingExample.objects.filter(pk=examples[index].pk).update(reserved_by=holder, reserved_until=until)

    for who in (reviewer, other, key):
        for queue in (ReviewQueue(), ReviewQueue(language="en"), ReviewQueue(language="es", order="newest")):
            expected = review_queue(queue=queue, reviewer=who).count()
            assert review_queue_remaining(queue=queue, reviewer=who) == expected
            for excluded in (examples[0].pk, examples[12].pk, examples[8].pk):
                left = review_queue(queue=queue, reviewer=who).exclude(pk=excluded).count()
                assert review_queue_remaining(queue=queue, reviewer=who, excluding=excluded) == left
    adjudication = ReviewQueue(review_status="adjudication")
    assert review_queue_remaining(queue=adjudication, reviewer=reviewer) == (
        review_queue(queue=adjudication, reviewer=reviewer).count()
    )
