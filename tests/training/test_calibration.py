"""Calibration: a lenient judge on loopback is calibrated from reviewed corrections, grading then applies the
active calibration (the raw grade kept), and fits that are refused or do not help change nothing."""

from __future__ import annotations

from statistics import fmean

import pytest

from evaluation.llm.schema import BREAKDOWN_MAXIMA, GradingRequest
from evaluation.models import Evaluation
from evaluation.services import evaluation_submit
from ready4hire.errors import InvalidInput
from tests.llm_servers import DEFAULT_MODEL
from tests.llm_servers.lenient import LenientOllamaServer, lenient, true_score
from training.models import Calibration, TrainingExample
from training.services import example_review
from training.services.calibration import calibration_fit, calibration_refit_if_due

from .calibration_helpers import reviewed_example

pytestmark = pytest.mark.django_db

CONCEPTS = ["index", "btree", "scan", "selectivity", "covering", "composite", "cardinality", "locking"]


def _answer(number: int) -> str:
    """Answers covering 0-7 of the concepts at different lengths: true scores from about 1 to 9."""
    covered = number % 8
    length = covered + 2 + (number * 7) % 50
    return " ".join([*CONCEPTS[:covered], f"detail{number}", *["because"] * (length - covered - 1)])


def _request(number: int) -> GradingRequest:
    return GradingRequest.normalised(
        question="How does a database index speed up a query?",
        answer=_answer(number),
        expected_concepts=CONCEPTS,
        category="technical",
        difficulty="mid",
        language="en",
    )


def _grade(server, number: int) -> tuple[Evaluation, float]:
    evaluation = evaluation_submit(request=_request(number))
    return evaluation, true_score(server.chat_requests[-1].body["messages"])


@pytest.fixture
def lenient_judge(settings):
    with LenientOllamaServer() as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_MODEL = DEFAULT_MODEL
        settings.LLM_RETRY_BACKOFF = 0
        settings.CALIBRATION_MIN_EXAMPLES = 30
        yield server


def _review_with_truth(server, reviewer, numbers) -> None:
    for number in numbers:
        evaluation, truth = _grade(server, number)
        example = TrainingExample.objects.get(evaluation=evaluation)
        example_review(example=example, reviewer=reviewer, action="correct", score=truth)


def test_sixty_corrections_calibrate_a_lenient_judge(lenient_judge, reviewer):
    _review_with_truth(lenient_judge, reviewer, range(60))

    calibration = calibration_fit(grader=DEFAULT_MODEL)
    assert calibration.active and calibration.examples == 60 and calibration.version == 1
    assert calibration.mae_before >= 2.0 and calibration.mae_after < calibration.mae_before
    assert calibration.msd_before > 1  # the monitor's sign: lenient
    ys = [y for _, y in calibration.knots]
    assert ys == sorted(ys)  # monotone

    raw_errors, calibrated_errors = [], []
    for number in range(1000, 1030):  # answers the judge never graded: no cache, no review
        evaluation, truth = _grade(lenient_judge, number)
        evaluation.refresh_from_db()
        assert evaluation.raw_score == lenient(truth) and evaluation.calibration_id == calibration.pk
        assert evaluation.result["score"] == evaluation.score
        assert sum(evaluation.result["breakdown"].values()) == pytest.approx(evaluation.score, abs=0.011)
        assert all(0 <= evaluation.result["breakdown"][k] <= top for k, top in BREAKDOWN_MAXIMA.items())
        assert evaluation.raw_result["score"] == evaluation.raw_score
        # The training example keeps the grader's own grade: the next fit learns from raw scores again.
        assert TrainingExample.objects.get(evaluation=evaluation).score == evaluation.raw_score
        raw_errors.append(abs(evaluation.raw_score - truth))
        calibrated_errors.append(abs(evaluation.score - truth))
    assert fmean(raw_errors) >= 2.0
    assert fmean(calibrated_errors) <= 1.0


def test_a_cached_grade_is_calibrated_from_the_raw_one(lenient_judge, reviewer):
    _review_with_truth(lenient_judge, reviewer, range(40))
    calibration = calibration_fit(grader=DEFAULT_MODEL)
    first = evaluation_submit(request=_request(2000))
    again = evaluation_submit(request=_request(2000))
    assert again.from_cache and again.calibration_id == calibration.pk
    assert (again.raw_score, again.score) == (first.raw_score, first.score)


def test_too_few_reviews_activate_nothing_and_grades_stay_raw(lenient_judge, reviewer):
    _review_with_truth(lenient_judge, reviewer, range(10))
    with pytest.raises(InvalidInput, match=r"has 10 reviewed examples; a calibration needs at least 30"):
        calibration_fit(grader=DEFAULT_MODEL)
    assert not Calibration.objects.exists()
    assert calibration_refit_if_due() == []

    evaluation = evaluation_submit(request=_request(3000))
    evaluation.refresh_from_db()
    assert evaluation.calibration_id is None and evaluation.raw_result is None
    assert evaluation.score == evaluation.raw_score == evaluation.result["score"]


def test_a_fit_that_worsens_the_cross_validated_mae_is_stored_but_not_activated():
    # A fair judge: any fit can only add error. The active calibration it would replace stays active.
    current = Calibration.objects.create(grader="fair", version=1, examples=30, knots=[[0, 0], [10, 10]], active=True)
    for step in range(50):
        reviewed_example("fair", step / 5, step / 5)
    fit = calibration_fit(grader="fair")
    assert fit.version == 2 and not fit.active and "does not lower the cross-validated MAE" in fit.note
    assert fit.mae_after >= fit.mae_before == 0
    current.refresh_from_db()
    assert current.active


def test_refused_fits_name_the_count_needed(settings):
    settings.LLM_MODEL = "llama3.2:3b"
    with pytest.raises(InvalidInput, match=r"Unknown grader 'nobody'"):
        calibration_fit(grader="nobody")
    with pytest.raises(InvalidInput, match=r"llama3.2:3b has 0 reviewed examples; .* at least 30"):
        calibration_fit(grader="llama3.2:3b")
    for step in range(40):
        reviewed_example("judge", 5 + step / 8, step / 4)
    for _ in range(5):
        reviewed_example("judge", 6, 3, category="soft_skills")
    for _ in range(10):  # approved by a program, not by people: never counted
        reviewed_example("judge", 9, 1, category="soft_skills", decided_automatically=True)
    with pytest.raises(InvalidInput, match=r"5 reviewed examples in the Soft skills category; .* at least 30") as err:
        calibration_fit(grader="judge", category="soft_skills")
    assert err.value.field == "category"
    assert not Calibration.objects.exists()
    assert calibration_fit(grader="judge", category="technical").active


def test_beat_refits_once_enough_new_reviews_arrived(settings):
    settings.CALIBRATION_MIN_EXAMPLES = 30
    settings.CALIBRATION_REFIT_MIN_NEW_REVIEWS = 20
    for step in range(30):
        reviewed_example("judge", 5 + step / 6, step / 3)
    (first,) = calibration_refit_if_due()
    assert (first.grader, first.category, first.trigger, first.active) == ("judge", "", "schedule", True)
    for step in range(19):
        reviewed_example("judge", 5.1 + step / 6, step / 3 + 0.2)
    assert calibration_refit_if_due() == []
    reviewed_example("judge", 5.5, 1.0)
    (second,) = calibration_refit_if_due()
    assert second.version == 2 and second.examples == 50
    first.refresh_from_db()
    assert second.active and not first.active
