"""Agreement between reviewers, and between the machine and the reviewers, from the review rows.

Reads the rows once and hands plain numbers to the pure metrics (`training.metrics`): Krippendorff's α
(interval) over the scores of every example two or more people scored, quadratic-weighted κ for each pair of
reviewers, machine-vs-human QWK and MAE (the machine's original score against the final human score) overall
and by category, and each reviewer's count, median time and agreement with the final decision. Undefined
figures are None (JSON has no NaN).
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations
from statistics import median

from ..consensus import SCORE_TOLERANCE
from ..metrics import krippendorff_alpha_interval, mean_absolute_error, quadratic_weighted_kappa, to_rating
from ..models import Review, TrainingExample
from .examples import collection_settings_get

Status = TrainingExample.ReviewStatus
_PEOPLE = (Review.Kind.REVIEW, Review.Kind.ADJUDICATION)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def _machine_vs_human(pairs: list[tuple[float, float]]) -> dict:
    machine = [m for m, _ in pairs]
    human = [h for _, h in pairs]
    return {
        "items": len(pairs),
        "qwk": _number(quadratic_weighted_kappa([to_rating(s) for s in machine], [to_rating(s) for s in human])),
        "mae": _number(mean_absolute_error(machine, human)),
    }


def _agrees(action: str, score: float | None, *, status: str, final: float) -> bool:
    if action == Review.Action.REJECT:
        return status == Status.REJECTED
    return status == Status.APPROVED and score is not None and abs(score - final) <= SCORE_TOLERANCE + 1e-9


def agreement_report() -> dict:
    """The figures of `GET /api/v1/training/agreement` and the statistics page."""
    reviews = list(
        Review.objects.filter(kind__in=_PEOPLE, reviewer__isnull=False)
        .exclude(action=Review.Action.REOPEN)
        .values_list(
            "example_id",
            "reviewer__username",
            "kind",
            "action",
            "score",
            "seconds_spent",
            "current",
            "example__review_status",
            "example__score",
        )
        .order_by("pk")
    )
    # Scores people gave in the current round of each example (adjudications decide, they do not rate).
    scored: dict[int, dict[str, float]] = defaultdict(dict)
    per_reviewer: dict[str, list[tuple]] = defaultdict(list)
    for example_id, username, kind, action, score, seconds, current, status, final in reviews:
        per_reviewer[username].append((action, score, seconds, status, final))
        if current and kind == Review.Kind.REVIEW and score is not None:
            scored[example_id][username] = score
    multiple = {example_id: by for example_id, by in scored.items() if len(by) >= 2}

    pairs = []
    names = sorted({name for by in multiple.values() for name in by})
    for a, b in combinations(names, 2):
        both = [(by[a], by[b]) for by in multiple.values() if a in by and b in by]
        if both:
            kappa = quadratic_weighted_kappa([to_rating(x) for x, _ in both], [to_rating(y) for _, y in both])
            pairs.append({"reviewers": [a, b], "items": len(both), "quadratic_weighted_kappa": _number(kappa)})

    decided = TrainingExample.objects.filter(review_status=Status.APPROVED, decided_automatically=False).values_list(
        "category", "original_score", "score"
    )
    machine: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for category, original, final in decided:
        machine[category].append((original if original is not None else final, final))

    reviewers = []
    for username, rows in sorted(per_reviewer.items()):
        seconds = [row[2] for row in rows if row[2] is not None]
        settled = [row for row in rows if row[3] in (Status.APPROVED, Status.REJECTED)]
        agreed = [row for row in settled if _agrees(row[0], row[1], status=row[3], final=row[4])]
        reviewers.append(
            {
                "username": username,
                "reviews": len(rows),
                "median_seconds": round(median(seconds), 1) if seconds else None,
                "agreement": round(len(agreed) / len(settled), 4) if settled else None,
            }
        )
    return {
        "reviews_required": collection_settings_get().reviews_required,
        "items_with_multiple_reviews": len(multiple),
        "krippendorff_alpha": _number(krippendorff_alpha_interval([list(by.values()) for by in multiple.values()])),
        "pairs": pairs,
        "machine_vs_human": _machine_vs_human([pair for rows in machine.values() for pair in rows]),
        "by_category": {category: _machine_vs_human(rows) for category, rows in sorted(machine.items())},
        "reviewers": reviewers,
    }
