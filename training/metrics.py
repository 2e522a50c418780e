"""Agreement metrics between a model's scores and the human scores. Pure Python, no ORM, no numpy:
comparisons grade hundreds of items, not millions, and the core service must run without ML packages.

Undefined values (a constant series has no correlation) are `nan`, never a made-up number.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from statistics import fmean

NAN = float("nan")


def to_rating(score: float, *, low: int = 0, high: int = 10) -> int:
    """A 0–10 score rounded half up to an integer rating (Python's round() would round half to even)."""
    return min(max(math.floor(score + 0.5), low), high)


def quadratic_weighted_kappa(a: Sequence[int], b: Sequence[int], *, low: int = 0, high: int = 10) -> float:
    """Cohen's kappa with quadratic weights on integer ratings in [low, high]."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n, k = len(a), high - low + 1
    if n == 0 or k < 2:
        return NAN
    observed = [[0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[x - low][y - low] += 1
    hist_a = [sum(row) for row in observed]
    hist_b = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    disagreement = expected = 0.0
    for i in range(k):
        for j in range(k):
            weight = (i - j) ** 2 / (k - 1) ** 2
            disagreement += weight * observed[i][j]
            expected += weight * hist_a[i] * hist_b[j] / n
    return 1.0 - disagreement / expected if expected else NAN


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) != len(y) or len(x) < 2:
        return NAN
    mx, my = fmean(x), fmean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else NAN


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for position in range(i, j + 1):
            ranks[order[position]] = (i + j) / 2 + 1  # ties share their average rank
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return pearson(_ranks(x), _ranks(y))


def mean_absolute_error(predicted: Sequence[float], truth: Sequence[float]) -> float:
    return fmean(abs(p - t) for p, t in zip(predicted, truth, strict=True)) if truth else NAN


def mean_signed_difference(predicted: Sequence[float], truth: Sequence[float]) -> float:
    """Positive when the model is more generous than the humans."""
    return fmean(p - t for p, t in zip(predicted, truth, strict=True)) if truth else NAN


def agreement_within(predicted: Sequence[int], truth: Sequence[int], *, tolerance: int) -> float:
    """Share of items whose rounded ratings differ by at most `tolerance` (0: exact, 1: adjacent)."""
    if not truth:
        return NAN
    return sum(abs(p - t) <= tolerance for p, t in zip(predicted, truth, strict=True)) / len(truth)


def icc_one_way(ratings: Sequence[Sequence[float]]) -> float:
    """ICC(1,1): one-way random effects, single measurement — how consistent repeated runs are per item.

    `ratings[i]` are the repeated scores of item i; every item needs the same number (≥ 2) of repeats.
    """
    n = len(ratings)
    if n < 2:
        return NAN
    k = len(ratings[0])
    if k < 2 or any(len(row) != k for row in ratings):
        raise ValueError("every item needs the same number (at least 2) of repeated ratings")
    grand = fmean(value for row in ratings for value in row)
    means = [fmean(row) for row in ratings]
    ms_between = k * sum((m - grand) ** 2 for m in means) / (n - 1)
    ms_within = sum((value - m) ** 2 for row, m in zip(ratings, means, strict=True) for value in row) / (n * (k - 1))
    denominator = ms_between + (k - 1) * ms_within
    return (ms_between - ms_within) / denominator if denominator else NAN


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return NAN
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def bootstrap_interval(
    statistic: Callable[[list[int]], float],
    n_items: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(indices)` over items resampled with replacement.

    The statistic gets a list of item indices, so paired metrics (model vs human, two models on the same
    items) resample pairs together. Resamples where the statistic is undefined are left out.
    """
    if n_items < 2:
        return NAN, NAN
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        value = statistic([rng.randrange(n_items) for _ in range(n_items)])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return NAN, NAN
    tail = (1 - confidence) / 2 * 100
    return percentile(values, tail), percentile(values, 100 - tail)


def _squared_differences(values: Sequence[float]) -> float:
    """Σ over ordered pairs i ≠ j of (v_i − v_j)², in one pass: 2·m·Σv² − 2·(Σv)²."""
    return 2 * len(values) * sum(v * v for v in values) - 2 * sum(values) ** 2


def krippendorff_alpha_interval(units: Sequence[Sequence[float]]) -> float:
    """Krippendorff's α with the interval metric (squared differences).

    `units[u]` holds the values the coders gave item u, missing ones left out; items with fewer than two
    values are not pairable and do not count. α = 1 − D_o / D_e, with D_o the disagreement observed within
    items and D_e the one expected from all pairable values pooled.
    """
    pairable = [list(unit) for unit in units if len(unit) >= 2]
    n = sum(len(unit) for unit in pairable)
    if n < 2:
        return NAN
    observed = sum(_squared_differences(unit) / (len(unit) - 1) for unit in pairable) / n
    expected = _squared_differences([value for unit in pairable for value in unit]) / (n * (n - 1))
    return 1.0 - observed / expected if expected > 1e-12 else NAN
