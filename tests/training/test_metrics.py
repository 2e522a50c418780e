"""Agreement metrics checked against values computed by hand and published examples."""

from __future__ import annotations

import math

import pytest

from training.metrics import (
    agreement_within,
    bootstrap_interval,
    icc_one_way,
    mean_absolute_error,
    mean_signed_difference,
    pearson,
    percentile,
    quadratic_weighted_kappa,
    spearman,
    to_rating,
)


def test_qwk_matches_a_hand_computed_table():
    # Observed disagreement 0.5, expected 1.375 (worked out on paper): 1 - 0.5 / 1.375.
    assert quadratic_weighted_kappa([0, 1, 2, 2], [0, 2, 2, 1], low=0, high=2) == pytest.approx(1 - 0.5 / 1.375)


def test_qwk_is_one_for_perfect_agreement_and_zero_for_chance():
    scores = [0, 3, 5, 7, 10, 10, 2]
    assert quadratic_weighted_kappa(scores, scores) == pytest.approx(1.0)
    assert quadratic_weighted_kappa([0, 0, 1, 1], [0, 1, 0, 1], low=0, high=1) == pytest.approx(0.0)


def test_qwk_punishes_big_misses_more_than_small_ones():
    human = [2, 4, 6, 8]
    near = quadratic_weighted_kappa([3, 5, 7, 9], human)
    far = quadratic_weighted_kappa([8, 6, 4, 2], human)
    assert near > 0.8 > 0 > far


def test_icc_one_way_matches_shrout_and_fleiss():
    # Shrout & Fleiss (1979), table 2: six targets rated by four judges; ICC(1,1) = 0.17.
    ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert icc_one_way(ratings) == pytest.approx(0.1657, abs=1e-3)
    assert icc_one_way([[1, 1], [5, 5], [9, 9]]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        icc_one_way([[1, 2], [3]])


def test_correlations_and_errors():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)  # ties share ranks
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert mean_absolute_error([5, 7], [6, 5]) == pytest.approx(1.5)
    assert mean_signed_difference([5, 7], [6, 5]) == pytest.approx(0.5)
    assert agreement_within([5, 7, 2], [5, 6, 5], tolerance=0) == pytest.approx(1 / 3)
    assert agreement_within([5, 7, 2], [5, 6, 5], tolerance=1) == pytest.approx(2 / 3)


def test_ratings_round_half_up_and_stay_in_range():
    assert [to_rating(s) for s in (0.4, 0.5, 2.5, 9.96, 10.4, -1)] == [0, 1, 3, 10, 10, 0]


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    model = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3, 5]
    human = [2, 2, 4, 4, 5, 7, 6, 8, 9, 9, 4, 5]

    def mae(indices):
        return mean_absolute_error([model[i] for i in indices], [human[i] for i in indices])

    low, high = bootstrap_interval(mae, len(model), resamples=500, seed=7)
    assert (low, high) == bootstrap_interval(mae, len(model), resamples=500, seed=7)
    assert low <= mean_absolute_error(model, human) <= high
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
