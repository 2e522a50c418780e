"""Calibration of a grader's scores to the human scale, pure (no ORM): fit a monotone map from (raw, human)
pairs, apply it, measure it by k-fold cross-validation, and summarise agreement for tables and plots.

The map is an isotonic regression (scikit-learn's `IsotonicRegression`, increasing, clipped to 0-10 and
outside the fitted range) on raw-score bins rather than on single examples: neighbouring bins are merged until
each holds `min_per_knot` examples, so a handful of odd reviews cannot put a step into the curve. The fitted
curve is stored as knots (x → y) and applied by linear interpolation between them, which is what scikit-learn's
`predict` does: grading needs no scikit-learn at all, only the knots.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from .metrics import mean_absolute_error, mean_signed_difference, quadratic_weighted_kappa, to_rating

SCORE_MIN, SCORE_MAX = 0.0, 10.0
BIN_WIDTH = 0.5  # raw scores have one decimal; half-point bins keep the curve's resolution below one rating
MIN_PER_KNOT = 5
FOLDS = 5

Pair = tuple[float, float]  # (the grader's raw score, the human score)
Knot = tuple[float, float]


def _figure(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


@dataclass(frozen=True)
class Agreement:
    """How a grader's scores agree with the human ones; undefined figures are None (JSON has no NaN)."""

    items: int
    mae: float | None
    qwk: float | None
    mean_signed_difference: float | None = None  # positive: the grader is more generous than the humans

    def as_dict(self) -> dict:
        return {
            "items": self.items,
            "qwk": self.qwk,
            "mae": self.mae,
            "mean_signed_difference": self.mean_signed_difference,
        }


def agreement(predicted: Sequence[float], human: Sequence[float]) -> Agreement:
    """MAE, quadratic-weighted κ on rounded 0-10 ratings, and the mean signed difference."""
    return Agreement(
        items=len(human),
        mae=_figure(mean_absolute_error(predicted, human)),
        qwk=_figure(quadratic_weighted_kappa([to_rating(p) for p in predicted], [to_rating(h) for h in human])),
        mean_signed_difference=_figure(mean_signed_difference(predicted, human)),
    )


def _bins(pairs: Sequence[Pair], *, width: float, min_count: int) -> list[tuple[float, float, int]]:
    """(mean raw, mean human, count) per raw-score bin, neighbours merged so that every bin holds `min_count`."""
    grouped: dict[int, list[Pair]] = defaultdict(list)
    for raw, human in pairs:
        grouped[math.floor(raw / width + 1e-9)].append((raw, human))
    merged: list[list[Pair]] = []
    pending: list[Pair] = []
    for key in sorted(grouped):
        pending.extend(grouped[key])
        if len(pending) >= min_count:
            merged.append(pending)
            pending = []
    if pending:  # the top leftover joins the bin below it (or stands alone when it is all there is)
        if merged:
            merged[-1].extend(pending)
        else:
            merged.append(pending)
    return [
        (sum(r for r, _ in members) / len(members), sum(h for _, h in members) / len(members), len(members))
        for members in merged
    ]


def calibration_knots(
    pairs: Sequence[Pair], *, min_per_knot: int = MIN_PER_KNOT, bin_width: float = BIN_WIDTH
) -> list[Knot]:
    """Fit the monotone map raw → human and return its knots, ascending in x (and non-decreasing in y)."""
    if not pairs:
        raise ValueError("a calibration needs at least one (raw, human) pair")
    from sklearn.isotonic import IsotonicRegression  # imported here: only fitting needs it, never grading

    bins = _bins(pairs, width=bin_width, min_count=max(1, min_per_knot))
    if len(bins) == 1:
        return [(round(bins[0][0], 4), round(min(max(bins[0][1], SCORE_MIN), SCORE_MAX), 4))]
    model = IsotonicRegression(y_min=SCORE_MIN, y_max=SCORE_MAX, increasing=True, out_of_bounds="clip")
    model.fit([x for x, _, _ in bins], [y for _, y, _ in bins], sample_weight=[n for _, _, n in bins])
    return [
        (round(float(x), 4), round(float(y), 4)) for x, y in zip(model.X_thresholds_, model.y_thresholds_, strict=True)
    ]


def calibrated(knots: Sequence[Sequence[float]], raw: float) -> float:
    """The calibrated score of `raw`: linear between knots, flat beyond the first and last, one decimal."""
    if not knots:
        return raw
    xs = [x for x, _ in knots]
    if raw <= xs[0]:
        value = knots[0][1]
    elif raw >= xs[-1]:
        value = knots[-1][1]
    else:
        right = bisect_right(xs, raw)
        (x0, y0), (x1, y1) = knots[right - 1], knots[right]
        value = y0 + (y1 - y0) * (raw - x0) / (x1 - x0) if x1 > x0 else y1
    return round(min(max(value, SCORE_MIN), SCORE_MAX), 1)


@dataclass(frozen=True)
class CrossValidation:
    """Before (the raw scores) and after (each example calibrated by a fit that never saw it)."""

    before: Agreement
    after: Agreement
    predictions: list[float]  # the out-of-fold calibrated score of each pair, in the pairs' order
    folds: int

    @property
    def improves(self) -> bool:
        """Whether calibrating lowers the mean absolute error; a fit that does not is kept but not used."""
        if self.before.mae is None or self.after.mae is None:
            return False
        return self.after.mae < self.before.mae


def cross_validate(
    pairs: Sequence[Pair], *, folds: int = FOLDS, seed: int = 0, min_per_knot: int = MIN_PER_KNOT
) -> CrossValidation:
    """k-fold cross-validation of the calibration: each fold is calibrated by a fit on the other folds only."""
    folds = max(2, min(folds, len(pairs)))
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    predictions = [0.0] * len(pairs)
    for fold in range(folds):
        held_out = order[fold::folds]
        held = set(held_out)
        knots = calibration_knots([pairs[i] for i in order if i not in held], min_per_knot=min_per_knot)
        for index in held_out:
            predictions[index] = calibrated(knots, pairs[index][0])
    raw = [r for r, _ in pairs]
    human = [h for _, h in pairs]
    return CrossValidation(
        before=agreement(raw, human), after=agreement(predictions, human), predictions=predictions, folds=folds
    )


def reliability(predicted: Sequence[float], human: Sequence[float]) -> list[list[float]]:
    """[mean predicted, mean human, count] per rounded rating of the prediction: on the diagonal when the
    grader is calibrated, above it when it is harsh, below it when it is lenient."""
    grouped: dict[int, list[Pair]] = defaultdict(list)
    for p, h in zip(predicted, human, strict=True):
        grouped[to_rating(p)].append((p, h))
    return [
        [
            round(sum(p for p, _ in rows) / len(rows), 3),
            round(sum(h for _, h in rows) / len(rows), 3),
            len(rows),
        ]
        for _, rows in sorted(grouped.items())
    ]
