"""Review services: approve, reject, correct, reopen, and what is recorded."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from evaluation.services import api_key_create
from ready4hire.errors import Conflict, InvalidInput, NotFound
from training.models import TrainingExample
from training.services import example_approve, example_correct, example_reject, example_reopen

from .factories import TrainingExampleFactory, grade

pytestmark = pytest.mark.django_db

Status = TrainingExample.ReviewStatus


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ana", is_staff=True)


def test_approve_records_who_when_and_the_note(user):
    example = TrainingExampleFactory()
    example_approve(example_id=example.pk, reviewer=user, note="Good example.")
    example.refresh_from_db()
    assert example.review_status == Status.APPROVED
    assert example.reviewed_by == user and example.reviewed_at is not None
    assert example.review_note == "Good example."
    assert example.source == "llm" and example.original_label is None


def test_each_review_is_in_the_admin_log(user):
    example = TrainingExampleFactory()
    example_approve(example_id=example.pk, reviewer=user)
    example_reject(example_id=example.pk, reviewer=user, note="Off topic.")
    messages = list(
        LogEntry.objects.filter(object_id=str(example.pk)).order_by("pk").values_list("change_message", flat=True)
    )
    assert messages == ["Approved.", "Rejected. Note: Off topic."]
    assert LogEntry.objects.filter(user=user).count() == 2


def test_approving_twice_changes_nothing_the_second_time(user):
    example = TrainingExampleFactory()
    first = example_approve(example_id=example.pk, reviewer=user)
    second = example_approve(example_id=example.pk, reviewer=user)
    assert second.reviewed_at == first.reviewed_at
    assert LogEntry.objects.count() == 1


def test_an_approved_example_can_still_be_rejected(user):
    example = TrainingExampleFactory()
    example_approve(example_id=example.pk, reviewer=user)
    assert example_reject(example_id=example.pk, reviewer=user).review_status == Status.REJECTED


@pytest.mark.parametrize("action", ["approve", "correct"])
def test_a_rejected_example_cannot_be_approved_or_corrected(user, action):
    example = TrainingExampleFactory()
    example_reject(example_id=example.pk, reviewer=user)
    with pytest.raises(Conflict, match="was rejected"):
        if action == "approve":
            example_approve(example_id=example.pk, reviewer=user)
        else:
            example_correct(example_id=example.pk, reviewer=user, score=9)
    example.refresh_from_db()
    assert example.review_status == Status.REJECTED and example.score == 6.0


def test_reopen_sends_it_back_to_the_queue_and_then_it_can_be_approved(user):
    example = TrainingExampleFactory()
    example_reject(example_id=example.pk, reviewer=user)
    reopened = example_reopen(example_id=example.pk, reviewer=user, note="Rejected by mistake.")
    assert reopened.review_status == Status.PENDING
    assert example_approve(example_id=example.pk, reviewer=user).review_status == Status.APPROVED


def test_reviewing_a_missing_example_is_not_found(user):
    with pytest.raises(NotFound):
        example_approve(example_id=999_999, reviewer=user)


def test_an_api_key_reviewer_is_recorded_as_the_key():
    key, _ = api_key_create(name="frontend")
    example = TrainingExampleFactory()
    example_reject(example_id=example.pk, reviewer=key)
    example.refresh_from_db()
    assert example.reviewed_by is None and example.reviewed_by_key == key
    assert example.reviewer_name == "API key frontend"
    assert not LogEntry.objects.exists()  # the admin log is for people


def test_correcting_the_score_keeps_the_machine_label_and_approves(user):
    example = TrainingExampleFactory(score=4.0)
    machine_label = example.label
    corrected = example_correct(example_id=example.pk, reviewer=user, score=8.5, note="Underrated.")
    corrected.refresh_from_db()
    assert corrected.score == 8.5 and corrected.label["score"] == 8.5
    assert sum(corrected.label["breakdown"].values()) == pytest.approx(8.5, abs=0.011)
    assert corrected.original_label == machine_label and corrected.original_score == 4.0
    assert corrected.source == TrainingExample.Source.HUMAN
    assert corrected.review_status == Status.APPROVED
    assert corrected.reviewed_by == user and corrected.review_note == "Underrated."
    # The machine's justification no longer explains the new score: the reviewer's note replaces it.
    assert corrected.label["justification"] == "Underrated."
    assert (
        LogEntry.objects.get().change_message
        == "Corrected (score 4 → 8.5, breakdown, justification) and approved. Note: Underrated."
    )


def test_a_second_correction_keeps_the_first_machine_label(user):
    example = TrainingExampleFactory(score=4.0)
    machine_label = example.label
    example_correct(example_id=example.pk, reviewer=user, score=8.5)
    again = example_correct(example_id=example.pk, reviewer=user, score=7.0)
    assert again.original_label == machine_label and again.original_score == 4.0
    assert again.score == 7.0


def test_a_breakdown_alone_sets_the_score_to_its_sum(user):
    example = TrainingExampleFactory()
    breakdown = {"completeness": 3, "technical_depth": 2.5, "clarity": 2, "key_concepts": 1.5}
    corrected = example_correct(example_id=example.pk, reviewer=user, breakdown=breakdown)
    assert corrected.score == 9.0
    assert corrected.label["breakdown"] == breakdown


def test_a_full_label_replaces_the_grade(user):
    example = TrainingExampleFactory()
    label = grade(2.0, justification="Confuses indexes with views.", missing_concepts=["B-tree", "write cost"])
    corrected = example_correct(example_id=example.pk, reviewer=user, label=label)
    assert corrected.label == label and corrected.score == 2.0


def test_justification_and_missing_concepts_alone_are_a_correction(user):
    example = TrainingExampleFactory()
    corrected = example_correct(
        example_id=example.pk, reviewer=user, justification="Misses the cost.", missing_concepts=["write cost"]
    )
    assert corrected.label["justification"] == "Misses the cost."
    assert corrected.label["missing_concepts"] == ["write cost"]
    assert corrected.score == example.score and corrected.source == "human"


@pytest.mark.parametrize(
    ("correction", "field"),
    [
        ({"score": 10.5}, "score"),
        ({"score": -1}, "score"),
        ({"score": float("nan")}, "score"),
        ({"score": "high"}, "score"),
        ({"breakdown": {"completeness": 3}}, "breakdown"),
        (
            {"breakdown": {"completeness": 3, "technical_depth": 3, "clarity": 2.5, "key_concepts": 2}},
            "breakdown.clarity",
        ),
        ({"label": {"score": 5, "breakdown": {}}}, "label.breakdown.completeness"),
        ({"label": grade(5.0) | {"verdict": "hire"}}, "label.verdict"),
        ({}, "score"),
    ],
)
def test_bad_corrections_are_refused_and_nothing_changes(user, correction, field):
    example = TrainingExampleFactory()
    before = TrainingExample.objects.values().get(pk=example.pk)
    with pytest.raises(InvalidInput) as error:
        example_correct(example_id=example.pk, reviewer=user, **correction)
    assert error.value.field == field
    assert TrainingExample.objects.values().get(pk=example.pk) == before
    assert not LogEntry.objects.exists()
