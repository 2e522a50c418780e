"""Reviews as rows: several reviewers per example, consensus or adjudication, stale edits, bad input, undo."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission

from ready4hire.errors import Conflict, Forbidden, InvalidInput, NotFound
from training.exports.filters import ExportFilters
from training.models import Review, TrainingExample
from training.selectors import ReviewQueue, review_queue
from training.selectors.exports import export_examples
from training.services import (
    collection_settings_update,
    example_adjudicate,
    example_approve,
    example_correct,
    example_reserve,
    example_review,
    example_review_undo,
)

from .factories import TrainingExampleFactory, grade

pytestmark = pytest.mark.django_db

Status = TrainingExample.ReviewStatus


@pytest.fixture
def people(django_user_model):
    return [django_user_model.objects.create_user(username=name, is_staff=True) for name in ("ana", "ben", "cruz")]


@pytest.fixture
def adjudicator(django_user_model):
    user = django_user_model.objects.create_user(username="dora", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="adjudicate_trainingexample"))
    return user


def stored(example: TrainingExample) -> dict:
    return TrainingExample.objects.values().get(pk=example.pk)


def test_one_review_decides_by_default_and_is_a_row_of_its_own(people):
    ana = people[0]
    example = TrainingExampleFactory(score=6.0)
    assert example_review(example=example, reviewer=ana, action="approve", note="ok", seconds_spent=12.5) == "approved"
    review = Review.objects.get()
    assert (review.example, review.reviewer, review.action, review.score) == (example, ana, "approve", 6.0)
    assert review.note == "ok" and review.seconds_spent == 12.5 and review.kind == "review"


def test_with_three_reviews_required_it_stays_in_the_queue_until_three_people_agree(people):
    collection_settings_update(reviews_required=3)
    example = TrainingExampleFactory(score=6.0)
    ana, ben, cruz = people
    assert example_review(example=example, reviewer=ana, action="approve") == "pending"
    assert example.pk not in [e.pk for e in review_queue(queue=ReviewQueue(), reviewer=ana)]
    assert example.pk in [e.pk for e in review_queue(queue=ReviewQueue(), reviewer=ben)]
    with pytest.raises(Conflict, match="already reviewed"):
        example_review(example=example, reviewer=ana, action="approve")
    assert example_review(example=example, reviewer=ben, action="correct", score=7.0) == "pending"
    assert example_review(example=example, reviewer=cruz, action="correct", score=6.5) == "approved"
    example.refresh_from_db()
    # The median of 6, 7 and 6.5; the machine's grade is kept.
    assert example.score == 6.5 and example.label["score"] == 6.5
    assert example.original_score == 6.0 and example.source == "human"


def test_reviews_more_than_a_point_apart_go_to_adjudication_and_are_never_exported(people, adjudicator):
    collection_settings_update(reviews_required=2)
    example = TrainingExampleFactory(score=6.0)
    example_review(example=example, reviewer=people[0], action="approve")
    assert example_review(example=example, reviewer=people[1], action="correct", score=3.0) == "adjudication"
    assert not export_examples(filters=ExportFilters(review_statuses=(), sources=())).filter(pk=example.pk).exists()
    assert ReviewQueue(review_status="adjudication") and [
        e.pk for e in review_queue(queue=ReviewQueue(review_status="adjudication"), reviewer=adjudicator)
    ] == [example.pk]

    before = stored(example)
    with pytest.raises(Forbidden, match="adjudicator"):
        example_adjudicate(example=example, user=people[2], action="approve")
    with pytest.raises(Conflict, match="needs adjudication"):
        example_review(example=example, reviewer=people[2], action="approve")
    assert stored(example) == before

    assert example_adjudicate(example=example, user=adjudicator, action="correct", score=4.5) == "approved"
    example.refresh_from_db()
    assert example.score == 4.5 and example.reviewed_by == adjudicator
    assert Review.objects.filter(kind="adjudication").count() == 1


def test_a_keep_and_a_reject_disagree(people):
    collection_settings_update(reviews_required=2)
    example = TrainingExampleFactory()
    example_review(example=example, reviewer=people[0], action="reject")
    assert example_review(example=example, reviewer=people[1], action="approve") == "adjudication"
    other = TrainingExampleFactory()
    example_review(example=other, reviewer=people[0], action="reject")
    assert example_review(example=other, reviewer=people[1], action="reject") == "rejected"


def test_an_edit_made_on_a_stale_page_is_refused(people):
    collection_settings_update(reviews_required=2)
    example = TrainingExampleFactory()
    opened_at = example.version
    example_review(example=example, reviewer=people[0], action="approve")
    before = stored(example)
    with pytest.raises(Conflict, match="changed since you opened it") as error:
        example_review(example=example, reviewer=people[1], action="reject", expected_version=opened_at)
    assert error.value.field == "version"
    assert stored(example) == before and Review.objects.count() == 1


@pytest.mark.parametrize(
    ("review", "field"),
    [
        ({"action": "correct", "score": 11}, "score"),
        ({"action": "correct", "score": -0.5}, "score"),
        (
            {
                "action": "correct",
                "score": 9.0,
                "breakdown": {"completeness": 1, "technical_depth": 1, "clarity": 1, "key_concepts": 0},
            },
            "breakdown",
        ),
        ({"action": "approve", "score": 9.0}, "score"),
        ({"action": "reject", "score": 2.0}, "score"),
        ({"action": "promote"}, "action"),
        ({"action": "approve", "seconds_spent": -1}, "seconds_spent"),
    ],
)
def test_bad_reviews_are_refused_and_nothing_changes(people, review, field):
    example = TrainingExampleFactory(score=6.0)
    before = stored(example)
    with pytest.raises(InvalidInput) as error:
        example_review(example=example, reviewer=people[0], **review)
    assert error.value.field == field
    assert stored(example) == before and not Review.objects.exists()


def test_an_example_already_decided_is_refused_from_the_queue(people):
    example = TrainingExampleFactory()
    example_review(example=example, reviewer=people[0], action="approve")
    before = stored(example)
    with pytest.raises(Conflict, match="already approved"):
        example_review(example=example, reviewer=people[1], action="reject")
    assert stored(example) == before


def test_a_breakdown_only_correction_leaves_no_stale_justification(people):
    example = TrainingExampleFactory(score=0.0, label=grade(0.0, justification="It cannot score above 2."))
    breakdown = {"completeness": 1, "technical_depth": 1, "clarity": 0.5, "key_concepts": 0.5}
    example_review(example=example, reviewer=people[0], action="correct", breakdown=breakdown, note="Partly right.")
    example.refresh_from_db()
    assert example.score == 3.0 and example.label["justification"] == "Partly right."
    # The same score with a redistributed breakdown keeps the justification, which still fits.
    other = TrainingExampleFactory(score=10.0)
    moved = {"completeness": 3, "technical_depth": 3, "clarity": 2, "key_concepts": 2}
    example_correct(example_id=other.pk, reviewer=people[0], breakdown=moved)
    other.refresh_from_db()
    assert other.label["justification"] == grade(10.0)["justification"]


def test_undo_puts_back_the_example_as_it_was(people):
    ana = people[0]
    example = TrainingExampleFactory(score=4.0)
    machine = stored(example)
    example_review(example=example, reviewer=ana, action="correct", score=8.0)
    restored = example_review_undo(reviewer=ana)
    now = stored(restored)
    for field in ("review_status", "label", "score", "source", "original_label", "original_score", "reviewed_by_id"):
        assert now[field] == machine[field]
    assert not Review.objects.exists()
    assert restored.reserved_by == ana  # held for them, to review again
    with pytest.raises(NotFound):
        example_review_undo(reviewer=ana)


def test_undo_is_refused_when_something_happened_after_the_review(people):
    collection_settings_update(reviews_required=2)
    example = TrainingExampleFactory()
    example_review(example=example, reviewer=people[0], action="approve")
    example_review(example=example, reviewer=people[1], action="approve")
    with pytest.raises(Conflict, match="changed after your review"):
        example_review_undo(reviewer=people[0])
    assert example_review_undo(reviewer=people[1]).review_status == Status.PENDING
    assert Review.objects.filter(example=example).count() == 1


def test_reopening_starts_a_new_round_of_reviews(people):
    example = TrainingExampleFactory()
    example_review(example=example, reviewer=people[0], action="reject")
    from training.services import example_reopen

    example_reopen(example_id=example.pk, reviewer=people[1])
    assert not Review.objects.filter(example=example, current=True).exists()
    assert example_review(example=example, reviewer=people[0], action="approve") == "approved"


def test_an_automatic_approval_decides_at_once_and_is_marked(people):
    collection_settings_update(reviews_required=3)
    example = example_approve(example_id=TrainingExampleFactory().pk, note="demo: automatic")
    assert example.review_status == Status.APPROVED and example.decided_automatically
    assert Review.objects.get().kind == "automatic"


def test_reviewing_a_reserved_example_of_someone_else_changes_nothing(people):
    example = TrainingExampleFactory()
    example_reserve(example=example, reviewer=people[0])
    before = stored(example)
    with pytest.raises(Conflict, match="being reviewed by ana"):
        example_correct(example_id=example.pk, reviewer=people[1], score=2.0)
    assert stored(example) == before


def test_the_data_migration_gives_earlier_reviews_their_rows(people):
    migration = importlib.import_module("training.migrations.0008_reviews_from_reviewed_examples")
    by_person = TrainingExampleFactory(review_status="approved", reviewed_by=people[0], review_note="fine")
    corrected = TrainingExampleFactory(review_status="approved", original_label=grade(2.0), original_score=2.0)
    by_demo = TrainingExampleFactory(review_status="approved", review_note="demo: approved automatically")
    rejected = TrainingExampleFactory(review_status="rejected", reviewed_by=people[1])
    TrainingExampleFactory()  # pending: no row

    migration.reviews_from_examples(apps, None)
    rows = {review.example_id: review for review in Review.objects.all()}
    assert set(rows) == {by_person.pk, corrected.pk, by_demo.pk, rejected.pk}
    assert (rows[by_person.pk].reviewer, rows[by_person.pk].action, rows[by_person.pk].note) == (
        people[0],
        "approve",
        "fine",
    )
    assert rows[corrected.pk].action == "correct" and rows[rejected.pk].action == "reject"
    assert rows[by_demo.pk].kind == "automatic"
    assert TrainingExample.objects.get(pk=by_demo.pk).decided_automatically
    assert not TrainingExample.objects.get(pk=by_person.pk).decided_automatically
