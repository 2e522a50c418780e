"""Opinions: the heuristic's score kept beside every collected grade, other graders' added later, and the
figures that order the queue."""

from __future__ import annotations

import pytest

from evaluation.llm.heuristic import HEURISTIC_MODEL_NAME, heuristic_grade
from evaluation.llm.schema import GradingRequest
from training.services import example_collect
from training.services.opinions import boundary_closeness, example_opinion_add, opinion_figures

from .factories import grade

pytestmark = pytest.mark.django_db

QUESTION = "What is a database index?"
ANSWER = "A B-tree that finds rows without a full scan, at some write cost."


def test_collection_keeps_the_heuristic_opinion_beside_the_llm_grade():
    result = example_collect(
        question=QUESTION,
        answer=ANSWER,
        label=grade(9.0),
        source="llm",
        model="llama3.2:3b",
        expected_concepts=["B-tree", "full scan", "write cost"],
        language="en",
    )
    heuristic = heuristic_grade(
        GradingRequest.normalised(
            question=QUESTION, answer=ANSWER, expected_concepts=["B-tree", "full scan", "write cost"], language="en"
        )
    ).score
    example = result.example
    assert example.opinions == {"llama3.2:3b": 9.0, HEURISTIC_MODEL_NAME: heuristic}
    assert example.disagreement == pytest.approx(abs(9.0 - heuristic), abs=0.001)


def test_a_heuristic_grade_is_its_own_single_opinion(settings):
    from training.services import collection_settings_update

    collection_settings_update(sources=["heuristic"], min_score_threshold=0)
    example = example_collect(
        question=QUESTION, answer=ANSWER, label=grade(5.1), source="heuristic", model=HEURISTIC_MODEL_NAME
    ).example
    assert example.opinions == {HEURISTIC_MODEL_NAME: 5.1}
    assert example.disagreement == 0.0 and example.uncertainty == pytest.approx(0.9)  # 0.1 from the 5 boundary


def test_repeated_grades_make_an_example_uncertain():
    from .factories import TrainingExampleFactory

    example = TrainingExampleFactory(score=6.0, opinions={"llm": 6.0}, uncertainty=0.0)
    example = example_opinion_add(example_id=example.pk, grader="ft-v2", scores=[4.0, 6.5, 5.0])
    assert example.opinions == {"llm": 6.0, "ft-v2": 5.17}
    assert example.disagreement == pytest.approx(0.83) and example.uncertainty == 2.5


def test_the_figures_by_hand():
    assert opinion_figures({"a": 2.0, "b": 7.5, "c": 5.0}, machine_score=2.0) == {
        "disagreement": 5.5,
        "uncertainty": 0.0,
    }
    assert boundary_closeness(7.0) == 1.0 and boundary_closeness(8.0) == 0.0 and boundary_closeness(2.6) == 0.6


def test_a_comparisons_scores_become_opinions_named_by_model():
    from training.models import ComparisonItem, ComparisonRun
    from training.services.opinions import example_opinions_from_comparison

    from .factories import TrainingExampleFactory

    example = TrainingExampleFactory(score=6.0, opinions={"llama3.2:3b": 6.0})
    run = ComparisonRun.objects.create(contenders=[{"label": "ft", "model": "r4h-grader:v2"}], repeats=2)
    for repeat, score in enumerate((3.0, 4.0)):
        ComparisonItem.objects.create(
            run=run, example=example, model_label="ft", repeat=repeat, human_score=6.0, score=score
        )
    assert example_opinions_from_comparison(run_id=run.pk) == 1
    example.refresh_from_db()
    assert example.opinions == {"llama3.2:3b": 6.0, "r4h-grader:v2": 3.5}
    assert example.disagreement == 2.5 and example.uncertainty == 1.0
