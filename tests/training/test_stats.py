"""Statistics: SQL aggregates with the original collector's names."""

from __future__ import annotations

import pytest

from training.selectors import training_stats

from .factories import TrainingExampleFactory

pytestmark = pytest.mark.django_db


def test_empty_statistics_have_every_known_key_at_zero():
    stats = training_stats()
    assert stats["total_examples"] == 0
    assert stats["by_category"] == {"technical": 0, "soft_skills": 0}
    assert stats["by_difficulty"] == {"junior": 0, "mid": 0, "senior": 0}
    assert stats["by_source"] == {"llm": 0, "heuristic": 0, "human": 0}
    assert stats["by_review_status"] == {"pending": 0, "approved": 0, "rejected": 0, "adjudication": 0}
    assert stats["human_reviewed"] == 0 and stats["automatic_approvals"] == 0
    assert stats["score_distribution"] == {"0-3": 0, "3-5": 0, "5-7": 0, "7-9": 0, "9-10": 0}
    assert stats["by_role"] == {} and stats["reviewed_share"] == 0.0


def test_counts_buckets_and_reviewed_share():
    for score in (0.0, 2.9, 3.0, 4.99, 5.0, 7.0, 8.9, 9.0, 10.0):
        TrainingExampleFactory(score=score)
    TrainingExampleFactory(
        score=6.0, category="soft_skills", difficulty="senior", role="", source="human", review_status="approved"
    )
    TrainingExampleFactory(score=6.5, review_status="rejected", source="heuristic", role="Data Engineer")

    stats = training_stats()
    assert stats["total_examples"] == 11
    assert stats["score_distribution"] == {"0-3": 2, "3-5": 2, "5-7": 3, "7-9": 2, "9-10": 2}
    assert stats["by_category"] == {"technical": 10, "soft_skills": 1}
    assert stats["by_difficulty"] == {"junior": 0, "mid": 10, "senior": 1}
    assert stats["by_role"] == {"Backend Developer": 9, "Data Engineer": 1, "unspecified": 1}
    assert stats["by_source"] == {"llm": 9, "heuristic": 1, "human": 1}
    assert stats["by_review_status"] == {"pending": 9, "approved": 1, "rejected": 1, "adjudication": 0}
    assert stats["reviewed_share"] == round(2 / 11, 4)


def test_statistics_take_the_same_few_queries_whatever_the_row_count(django_assert_num_queries):
    TrainingExampleFactory.create_batch(3)
    with django_assert_num_queries(5):
        small = training_stats()
    TrainingExampleFactory.create_batch(200)
    with django_assert_num_queries(5):
        large = training_stats()
    assert (small["total_examples"], large["total_examples"]) == (3, 203)


def test_automatic_approvals_are_counted_apart_and_never_as_reviewed(django_user_model):
    from training.services import example_approve

    person = django_user_model.objects.create_user(username="rosa", is_staff=True)
    automatic, reviewed, pending = TrainingExampleFactory.create_batch(3)
    example_approve(example_id=automatic.pk, note="demo: approved automatically")
    example_approve(example_id=reviewed.pk, reviewer=person)

    stats = training_stats()
    assert stats["by_review_status"]["approved"] == 2
    assert stats["automatic_approvals"] == 1 and stats["human_reviewed"] == 1
    assert stats["reviewed_share"] == round(1 / 3, 4)
