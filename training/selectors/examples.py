"""Reads: examples for the queue, the API and exports; statistics as SQL aggregates; the collection settings."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from evaluation.llm.schema import CATEGORIES, DIFFICULTIES
from ready4hire.errors import InvalidInput, NotFound

from ..models import CollectionSettings, TrainingExample

# Lower bound inclusive, upper bound exclusive, except the last bucket which holds the perfect 10.
Status = TrainingExample.ReviewStatus

SCORE_BUCKETS: tuple[tuple[str, float, float | None], ...] = (
    ("0-3", 0.0, 3.0),
    ("3-5", 3.0, 5.0),
    ("5-7", 5.0, 7.0),
    ("7-9", 7.0, 9.0),
    ("9-10", 9.0, None),
)
UNSPECIFIED = "unspecified"


def score_bucket_q(label: str) -> Q:
    for name, low, high in SCORE_BUCKETS:
        if name == label:
            return Q(score__gte=low) & (Q(score__lt=high) if high is not None else Q())
    raise InvalidInput(f"Unknown score range {label!r}.", field="score_range")


def collection_settings_get() -> CollectionSettings:
    """The one settings row. A fresh database gets the defaults on first use (get_or_create is race-safe)."""
    collection_settings, _ = CollectionSettings.objects.get_or_create(pk=CollectionSettings.SINGLETON_ID)
    return collection_settings


def example_get(*, example_id: int) -> TrainingExample:
    try:
        return (
            TrainingExample.objects.select_related("reviewed_by", "reviewed_by_key")
            .prefetch_related("reviews__reviewer", "reviews__api_key")
            .get(pk=example_id)
        )
    except TrainingExample.DoesNotExist:
        raise NotFound(f"Training example {example_id} does not exist.", field="id") from None


def example_list(
    *,
    review_status: str | list[str] | None = None,
    source: str | list[str] | None = None,
    category: str | None = None,
    difficulty: str | None = None,
    role: str | None = None,
    language: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    q: str | None = None,
) -> QuerySet[TrainingExample]:
    """Examples matching every given filter, newest first. `q` searches the question and answer text."""
    if min_score is not None and max_score is not None and min_score > max_score:
        raise InvalidInput(f"min_score ({min_score}) is above max_score ({max_score}).", field="min_score")
    examples = TrainingExample.objects.select_related("reviewed_by", "reviewed_by_key")
    for field, value in (("review_status", review_status), ("source", source)):
        if isinstance(value, str):
            examples = examples.filter(**{field: value})
        elif value:
            examples = examples.filter(**{f"{field}__in": list(value)})
    exact = {"category": category, "difficulty": difficulty, "role": role, "language": language}
    examples = examples.filter(**{field: value for field, value in exact.items() if value is not None})
    if min_score is not None:
        examples = examples.filter(score__gte=min_score)
    if max_score is not None:
        examples = examples.filter(score__lte=max_score)
    if q and q.strip():
        text = q.strip()
        examples = examples.filter(Q(question__icontains=text) | Q(answer__icontains=text))
    return examples.order_by("-created_at", "-id")


def example_next_in_queue(*, after: TrainingExample) -> TrainingExample | None:
    """The pending example a reviewer sees next: the one below `after` in the queue, else the queue's top."""
    pending = TrainingExample.objects.filter(review_status=TrainingExample.ReviewStatus.PENDING).exclude(pk=after.pk)
    older = pending.filter(
        Q(created_at__lt=after.created_at) | Q(created_at=after.created_at, pk__lt=after.pk)
    ).order_by("-created_at", "-id")
    return older.first() or pending.order_by("-created_at", "-id").first()


def training_stats(*, examples: QuerySet[TrainingExample] | None = None) -> dict:
    """Counts by category, difficulty, role, source, review status and score range, the examples people
    reviewed apart from the automatic approvals, and the share people reviewed.

    Everything is computed by the database (one aggregate and four GROUP BYs), so time and memory do not
    depend on the number of rows held in Python.
    """
    examples = (TrainingExample.objects.all() if examples is None else examples).order_by()
    statuses = TrainingExample.ReviewStatus.values
    totals = examples.aggregate(
        total=Count("pk"),
        **{f"status_{status}": Count("pk", filter=Q(review_status=status)) for status in statuses},
        automatic=Count("pk", filter=Q(review_status=Status.APPROVED, decided_automatically=True)),
        **{
            f"bucket_{index}": Count("pk", filter=score_bucket_q(name))
            for index, (name, _, _) in enumerate(SCORE_BUCKETS)
        },
    )

    def grouped(field: str, known: tuple[str, ...] | list[str] = ()) -> dict[str, int]:
        counts = dict.fromkeys(known, 0)
        for row in examples.values(field).annotate(count=Count("pk")).order_by(field):
            counts[row[field] or UNSPECIFIED] = row["count"]
        return counts

    total = totals["total"]
    by_review_status = {status: totals[f"status_{status}"] for status in statuses}
    # Automatic approvals (the demo's) are decisions nobody reviewed: never counted as human-reviewed.
    human_reviewed = by_review_status[Status.APPROVED] + by_review_status[Status.REJECTED] - totals["automatic"]
    return {
        "total_examples": total,
        "by_category": grouped("category", CATEGORIES),
        "by_difficulty": grouped("difficulty", DIFFICULTIES),
        "by_role": grouped("role"),
        "by_source": grouped("source", TrainingExample.Source.values),
        "by_review_status": by_review_status,
        "score_distribution": {name: totals[f"bucket_{index}"] for index, (name, _, _) in enumerate(SCORE_BUCKETS)},
        "human_reviewed": human_reviewed,
        "automatic_approvals": totals["automatic"],
        "reviewed_share": round(human_reviewed / total, 4) if total else 0.0,
    }
