"""Agreement: Krippendorff's α (interval) checked by hand and against Krippendorff's own worked example, and
the agreement report built from review rows."""

from __future__ import annotations

import math

import pytest

from training.metrics import krippendorff_alpha_interval, quadratic_weighted_kappa
from training.selectors.agreement import agreement_report
from training.services import collection_settings_update, example_review

from .factories import TrainingExampleFactory

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers, twelve
# units, missing values as None. The paper gives α = 0.849 for the interval metric.
KRIPPENDORFF_OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_alpha_reproduces_krippendorffs_worked_example():
    units = [[row[u] for row in KRIPPENDORFF_OBSERVERS if row[u] is not None] for u in range(12)]
    assert krippendorff_alpha_interval(units) == pytest.approx(0.849, abs=0.0005)


def test_alpha_matches_a_table_computed_by_hand():
    # Values 1, 2 | 3, 3. D_o = (2·1²/1 + 0) / 4 = 0.5; D_e = 2·(1+4+4+1+1+0) / (4·3) = 22/12; α = 1 − 6/22.
    assert krippendorff_alpha_interval([[1, 2], [3, 3]]) == pytest.approx(8 / 11)
    assert krippendorff_alpha_interval([[2, 2], [5, 5], [7]]) == 1.0  # a single value is not pairable
    assert math.isnan(krippendorff_alpha_interval([[4, 4], [4, 4]]))  # no variation: undefined
    assert math.isnan(krippendorff_alpha_interval([[4], [5]]))


def test_qwk_of_a_small_pair_table_computed_by_hand():
    # Ratings 0-2 (k = 3): observed (0,0) (1,2) (2,1); weights (i−j)²/4. Disagreement = ¼ + ¼ = 0.5.
    # Marginals are uniform (1,1,1), so expected = Σ w_ij · 1·1/3 = (2·¼ + 2·¼ + 2·1)/3 = 1.
    assert quadratic_weighted_kappa([0, 1, 2], [0, 2, 1], low=0, high=2) == pytest.approx(0.5)


@pytest.mark.django_db
def test_the_report_from_review_rows(django_user_model):
    ana, ben = (django_user_model.objects.create_user(username=name, is_staff=True) for name in ("ana", "ben"))
    collection_settings_update(reviews_required=2)
    first, second, third = (
        TrainingExampleFactory(score=score, category=c)
        for score, c in ((6, "technical"), (4, "soft_skills"), (8, "technical"))
    )
    for example, seconds in ((first, 10), (second, 20), (third, 30)):
        example_review(example=example, reviewer=ana, action="approve", seconds_spent=seconds)
    example_review(example=first, reviewer=ben, action="correct", score=7.0)
    example_review(example=second, reviewer=ben, action="approve")
    assert example_review(example=third, reviewer=ben, action="correct", score=2.0) == "adjudication"

    report = agreement_report()
    assert report["reviews_required"] == 2 and report["items_with_multiple_reviews"] == 3
    assert report["krippendorff_alpha"] == pytest.approx(1 - (74 / 6) / (298 / 30), abs=1e-4)
    assert report["pairs"] == [
        {
            "reviewers": ["ana", "ben"],
            "items": 3,
            "quadratic_weighted_kappa": round(quadratic_weighted_kappa([6, 4, 8], [7, 4, 2]), 4),
        }
    ]
    # Decided by people: the first (machine 6, final 6.5) and the second (4 and 4).
    assert report["machine_vs_human"]["items"] == 2 and report["machine_vs_human"]["mae"] == 0.25
    assert report["by_category"]["soft_skills"] == {"items": 1, "qwk": None, "mae": 0.0}
    ana_row, ben_row = report["reviewers"]
    assert ana_row == {"username": "ana", "reviews": 3, "median_seconds": 20.0, "agreement": 1.0}
    assert ben_row["reviews"] == 3 and ben_row["median_seconds"] is None
