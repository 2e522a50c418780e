"""The pure calibration fit (training/calibration.py): monotone, regularised against a few odd points,
clipped outside the data, and measured by cross-validation on examples the fit never saw."""

from __future__ import annotations

import random

import pytest

from training.calibration import agreement, calibrated, calibration_knots, cross_validate, reliability


def _lenient(n: int, *, seed: int = 1) -> list[tuple[float, float]]:
    """A judge that gives 5 + true / 2, true scores spread over 0-10."""
    rng = random.Random(seed)
    truths = [round(rng.uniform(0, 10), 1) for _ in range(n)]
    return [(round(5 + t / 2, 1), t) for t in truths]


def test_the_fit_is_monotone_and_undoes_a_lenient_judge():
    pairs = _lenient(200)
    knots = calibration_knots(pairs)
    xs, ys = [x for x, _ in knots], [y for _, y in knots]
    assert xs == sorted(xs) and ys == sorted(ys)
    grid = [i / 10 for i in range(101)]
    mapped = [calibrated(knots, raw) for raw in grid]
    assert mapped == sorted(mapped)  # monotone everywhere, also between and beyond the knots
    assert all(0 <= value <= 10 for value in mapped)
    # 5 + t/2 = 7.5 means t = 5; within the half-point bins' resolution.
    assert calibrated(knots, 7.5) == pytest.approx(5.0, abs=0.6)
    assert calibrated(knots, 0.0) == calibrated(knots, xs[0])  # clipped below the data
    assert calibrated(knots, 10.0) == calibrated(knots, xs[-1])  # and above it


def test_a_few_odd_points_make_no_step():
    # A straight, fair judge, plus three wildly generous human scores at raw 3.0: each bin holds at least five
    # examples, so the three are averaged with their neighbours instead of lifting the curve on their own.
    pairs = [(x / 10, x / 10) for x in range(0, 101, 2)] * 2 + [(3.0, 10.0)] * 3
    knots = calibration_knots(pairs, min_per_knot=5)
    assert calibrated(knots, 3.0) < 6.0
    assert calibrated(knots, 8.0) == pytest.approx(8.0, abs=0.5)


def test_cross_validation_predicts_each_example_with_a_fit_that_never_saw_it():
    pairs = _lenient(100)
    validation = cross_validate(pairs, folds=5, seed=3)
    assert validation.folds == 5 and len(validation.predictions) == 100
    assert validation.before.mae >= 2.0 and validation.after.mae <= 1.0 and validation.improves
    assert validation.before.mean_signed_difference > 0  # lenient
    # A single mislabelled example far from the others is predicted from its neighbours, not from itself.
    poisoned = [*pairs, (9.9, 0.0)]
    out_of_fold = cross_validate(poisoned, folds=5, seed=3).predictions[-1]
    assert out_of_fold > 5


def test_a_fair_judge_is_not_improved():
    fair = [(x / 10, x / 10) for x in range(101)]
    validation = cross_validate(fair)
    assert validation.before.mae == 0 and not validation.improves


def test_agreement_and_reliability_figures():
    figures = agreement([6.0, 8.0, 4.0], [5.0, 6.0, 4.0])
    assert figures.items == 3 and figures.mae == 1.0 and figures.mean_signed_difference == 1.0
    assert agreement([], []).as_dict() == {"items": 0, "qwk": None, "mae": None, "mean_signed_difference": None}
    assert reliability([6.1, 5.9, 8.0], [4.0, 5.0, 6.0]) == [[6.0, 4.5, 2], [8.0, 6.0, 1]]
