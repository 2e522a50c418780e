"""Reads for calibration: the reviewed (machine, human) pairs of a grader, the active calibration of a grader
and category, the list, and the agreement monitor (machine vs. human over the last N reviews).

A pair comes from a training example people approved (an automatic approval is nobody's review): the
machine's score is its original score when a reviewer corrected it, else its score (an approval agrees with
it), and the human score is the final score.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import Coalesce, RowNumber

from ready4hire.errors import NotFound

from ..calibration import Pair, agreement
from ..models import Calibration, TrainingExample


def _reviewed(grader: str | None = None, category: str = "") -> QuerySet[TrainingExample]:
    examples = TrainingExample.objects.filter(
        review_status=TrainingExample.ReviewStatus.APPROVED, decided_automatically=False
    ).exclude(model="")
    if grader is not None:
        examples = examples.filter(model=grader)
    if category:
        examples = examples.filter(category=category)
    return examples.annotate(machine=Coalesce("original_score", "score")).order_by()


def calibration_pairs(*, grader: str, category: str = "") -> list[Pair]:
    """The grader's reviewed examples as (machine score, human score), in the category ('' = every one)."""
    return [(machine, human) for machine, human in _reviewed(grader, category).values_list("machine", "score")]


def reviewed_counts() -> dict[tuple[str, str], int]:
    """How many reviewed examples each grader has, per category and ('') over all of them."""
    grouped = _reviewed().values("model", "category").annotate(n=Count("pk"))
    counts = {(row["model"], row["category"]): row["n"] for row in grouped}
    totals: dict[tuple[str, str], int] = {}
    for (grader, _), n in counts.items():
        totals[(grader, "")] = totals.get((grader, ""), 0) + n
    return counts | totals


def calibration_active(*, grader: str, category: str) -> Calibration | None:
    """The calibration grading applies: the grader's active one for the category, else for every category."""
    found = None
    for calibration in Calibration.objects.filter(grader=grader, category__in=(category, ""), active=True):
        if found is None or calibration.category:
            found = calibration
    return found


def calibration_list(
    *, grader: str | None = None, category: str | None = None, active: bool | None = None
) -> QuerySet[Calibration]:
    filters = {"grader": grader, "category": "" if category == "all" else category, "active": active}
    return Calibration.objects.filter(**{k: v for k, v in filters.items() if v is not None}).order_by(
        "-created_at", "-id"
    )


def calibration_get(*, calibration_id: int) -> Calibration:
    try:
        return Calibration.objects.get(pk=calibration_id)
    except Calibration.DoesNotExist:
        raise NotFound(f"Calibration {calibration_id} does not exist.", field="id") from None


def agreement_monitor(*, last: int | None = None, by_category: bool = True) -> list[dict]:
    """Machine vs. human over each grader's last `last` reviewed examples (AGREEMENT_MONITOR_LAST_REVIEWS), per
    grader and category (or per grader alone): items, QWK, MAE and the mean signed difference, which is
    positive for a lenient grader and negative for a harsh one. The database picks the last N of each group."""
    last = settings.AGREEMENT_MONITOR_LAST_REVIEWS if last is None else last
    partition = [F("model"), F("category")] if by_category else [F("model")]
    rows = (
        _reviewed()
        .annotate(
            recency=Window(
                RowNumber(), partition_by=partition, order_by=[F("reviewed_at").desc(nulls_last=True), F("pk").desc()]
            )
        )
        .filter(Q(recency__lte=last))
        .values_list("model", "category", "machine", "score")
    )
    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for grader, category, machine, human in rows:
        machines, humans = groups.setdefault((grader, category if by_category else ""), ([], []))
        machines.append(machine)
        humans.append(human)
    return [
        {"grader": grader, "category": category, **agreement(machines, humans).as_dict()}
        for (grader, category), (machines, humans) in sorted(groups.items())
    ]


def agreement_qwk_by_grader(*, last: int = 200) -> dict[str, float | None]:
    """Each grader's machine-vs-human QWK over its last `last` reviews: the metrics endpoint's gauge."""
    return {row["grader"]: row["qwk"] for row in agreement_monitor(last=last, by_category=False)}
