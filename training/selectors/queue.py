"""The review queue: one selector for the review screen, the list page, next / previous and the API.

A queue is the reviewer's filters and search (the same as the example list's) and an order:
- `newest`: the newest examples first;
- `disagreement`: the largest spread between the graders' opinions first;
- `uncertainty`: the largest spread over repeated grades (or the closest to a score-range boundary) first;
- `balance`: the category × score range the next export has fewest examples of first.
What a reviewer may review now is the queue's pending examples they have not reviewed, minus those another
reviewer holds (a reservation). Next / previous walk the queue by its order keys (keyset), so they keep the
filters and cost the same on the first page and the thousandth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from evaluation.llm.schema import CATEGORIES, DIFFICULTIES, LANGUAGES
from ready4hire.errors import InvalidInput

from ..exports.filters import ExportFilters
from ..models import Review, TrainingExample
from .examples import SCORE_BUCKETS, example_list, score_bucket_q

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from evaluation.models import ApiKey

ORDERS = ("disagreement", "newest", "uncertainty", "balance")
DEFAULT_ORDER = "disagreement"
# Each order's keys, most significant first; every key is descending and the last two make it total.
_ORDER_KEYS: dict[str, tuple[str, ...]] = {
    "newest": ("created_at", "id"),
    "disagreement": ("disagreement", "created_at", "id"),
    "uncertainty": ("uncertainty", "created_at", "id"),
    "balance": ("balance_need", "disagreement", "created_at", "id"),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "review_status": tuple(TrainingExample.ReviewStatus.values),
    "category": CATEGORIES,
    "difficulty": DIFFICULTIES,
    "language": LANGUAGES,
    "source": tuple(TrainingExample.Source.values),
    "order": ORDERS,
}
Status = TrainingExample.ReviewStatus


@dataclass(frozen=True)
class ReviewQueue:
    """The reviewer's filters, search and order. Empty values mean 'any'."""

    review_status: str | None = None
    category: str | None = None
    difficulty: str | None = None
    role: str | None = None
    language: str | None = None
    source: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    q: str | None = None
    order: str = DEFAULT_ORDER

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise InvalidInput(
                    f"Unknown {name.replace('_', ' ')} {value!r}: expected one of {', '.join(allowed)}.", field=name
                )
        for name in ("min_score", "max_score"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 10:
                raise InvalidInput(f"{name} must be between 0 and 10 (got {value}).", field=name)
        if self.q is not None and len(self.q) > 200:
            raise InvalidInput("The search text is longer than 200 characters.", field="q")

    @classmethod
    def from_querydict(cls, querydict: Mapping[str, Any]) -> ReviewQueue:
        """The queue in a URL's query (the admin list's `category__exact=` spelling is accepted too)."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = querydict.get(field.name, querydict.get(f"{field.name}__exact"))
            if raw in (None, "") or (field.name == "review_status" and raw == "all"):
                continue
            if field.name in ("min_score", "max_score"):
                try:
                    raw = float(raw)
                except (TypeError, ValueError):
                    raise InvalidInput(f"{field.name} must be a number (got {raw!r}).", field=field.name) from None
            values[field.name] = raw
        return cls(**values)

    def to_querystring(self) -> str:
        """The query that gives this queue back through `from_querydict` (defaults left out)."""
        values = {name: value for name, value in asdict(self).items() if value not in (None, "")}
        if values.get("order") == DEFAULT_ORDER:
            del values["order"]
        return urlencode(values)

    def filters(self) -> dict[str, Any]:
        """The example-list filters of this queue."""
        return {name: value for name, value in asdict(self).items() if name != "order"}


def _reviewer_lookup(reviewer: AbstractBaseUser | ApiKey) -> dict[str, Any]:
    from evaluation.models import ApiKey

    return {"api_key": reviewer} if isinstance(reviewer, ApiKey) else {"reviewer": reviewer}


def _balance_need() -> Case:
    """How many examples the next export's emptiest category × score range cell is ahead of this one's."""
    cells = {(category, name): 0 for category in CATEGORIES for name, _, _ in SCORE_BUCKETS}
    exported = ExportFilters().review_statuses
    counts = (
        TrainingExample.objects.filter(review_status__in=exported)
        .order_by()
        .values("category")
        .annotate(
            **{
                f"b{index}": Count("pk", filter=score_bucket_q(name))
                for index, (name, _, _) in enumerate(SCORE_BUCKETS)
            }
        )
    )
    for row in counts:
        for index, (name, _, _) in enumerate(SCORE_BUCKETS):
            cells[(row["category"], name)] = row[f"b{index}"]
    most = max(cells.values(), default=0)
    return Case(
        *(
            When(Q(category=category) & score_bucket_q(name), then=Value(most - count))
            for (category, name), count in cells.items()
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


def review_queue_examples(*, queue: ReviewQueue) -> QuerySet[TrainingExample]:
    """Every example matching the queue's filters (any status unless it names one), in the queue's order:
    what the list page shows."""
    examples = example_list(**queue.filters())
    if queue.order == "balance":
        examples = examples.annotate(balance_need=_balance_need())
    return examples.order_by(*(F(key).desc() for key in _ORDER_KEYS[queue.order]))


def _availability(reviewer: AbstractBaseUser | ApiKey) -> tuple[Q, Q]:
    """(free, held): whether `reviewer` may take an example now, and its complement (another's live hold).

    `held` is written out rather than as `~free` so that the database can find the few held rows by index.
    """
    now = timezone.now()
    if "reviewer" in _reviewer_lookup(reviewer):
        free = Q(reserved_until__isnull=True) | Q(reserved_until__lte=now) | Q(reserved_by=reviewer)
        return free, Q(reserved_until__gt=now) & ~Q(reserved_by=reviewer)
    return Q(reserved_until__isnull=True) | Q(reserved_until__lte=now), Q(reserved_until__gt=now)


def _reviewed_by(reviewer: AbstractBaseUser | ApiKey) -> QuerySet[Review]:
    """The ids of the examples `reviewer` has a current review of."""
    return Review.objects.filter(current=True, **_reviewer_lookup(reviewer)).values("example_id")


def _queue_status(queue: ReviewQueue) -> str:
    return Status.ADJUDICATION if queue.review_status == Status.ADJUDICATION else Status.PENDING


def review_queue(*, queue: ReviewQueue, reviewer: AbstractBaseUser | ApiKey) -> QuerySet[TrainingExample]:
    """The examples `reviewer` may review now, in the queue's order.

    Pending examples they have not reviewed yet (an example that needs several reviews stays pending until
    it has them), except those another reviewer holds. Asking for `review_status=adjudication` gives the
    examples whose reviews disagree instead: the adjudicators' queue.
    """
    status = _queue_status(queue)
    examples = review_queue_examples(queue=ReviewQueue(**{**asdict(queue), "review_status": status}))
    free, _ = _availability(reviewer)
    examples = examples.filter(free)
    if status == Status.PENDING:
        # NOT IN a list the database builds once from the reviewer's reviews, rather than a NOT EXISTS probed
        # for every candidate row (SQLite probes it through the reviewer index: cost grows with their reviews).
        examples = examples.exclude(pk__in=_reviewed_by(reviewer))
    return examples


def review_queue_remaining(
    *, queue: ReviewQueue, reviewer: AbstractBaseUser | ApiKey, excluding: int | None = None
) -> int:
    """How many examples `review_queue` holds (less `excluding`), without counting `review_queue` itself.

    That count is an anti-join over every pending row. Instead: the rows matching the filters and others'
    live holds among them, in one pass over the covering `example_queue_count_idx` (so the count reads no
    column outside it, not even the id, which PostgreSQL would fetch from the table), less the few of them
    the reviewer has already reviewed, found from their reviews.
    """
    status = _queue_status(queue)
    matching = example_list(**{**queue.filters(), "review_status": status}).order_by()
    free, held = _availability(reviewer)
    # Columns of that index only (a filtered COUNT needs a column; review_status is never null).
    counts = matching.aggregate(total=Count("*"), held=Count("review_status", filter=held))
    remaining = counts["total"] - counts["held"]
    available = matching.filter(free)
    if status == Status.PENDING:
        mine = {f"reviews__{name}": value for name, value in _reviewer_lookup(reviewer).items()}
        remaining -= available.filter(reviews__current=True, **mine).aggregate(n=Count("pk", distinct=True))["n"]
        available = available.exclude(pk__in=_reviewed_by(reviewer))
    if excluding is not None and available.filter(pk=excluding).exists():
        remaining -= 1
    return remaining


def _keyset(*, queue: ReviewQueue, after_id: int, forward: bool) -> Q | None:
    """The condition for 'after (or before) example `after_id` in this order', or None if it is unknown."""
    keys = _ORDER_KEYS[queue.order]
    anchor = review_queue_examples(queue=ReviewQueue(order=queue.order)).filter(pk=after_id).values(*keys).first()
    if anchor is None:
        return None
    beyond = "lt" if forward else "gt"
    condition = Q()
    for position, key in enumerate(keys):
        step = Q(**{f"{key}__{beyond}": anchor[key]})
        for earlier in keys[:position]:
            step &= Q(**{earlier: anchor[earlier]})
        condition |= step
    return condition


def review_queue_next(
    *, queue: ReviewQueue, reviewer: AbstractBaseUser | ApiKey, after_id: int | None = None
) -> TrainingExample | None:
    """The example to review after `after_id` in this queue; past the end (or without `after_id`), the top."""
    examples = review_queue(queue=queue, reviewer=reviewer)
    if after_id is not None:
        condition = _keyset(queue=queue, after_id=after_id, forward=True)
        if condition is not None:
            following = examples.filter(condition).first()
            if following is not None:
                return following
        examples = examples.exclude(pk=after_id)
    return examples.first()


def review_queue_previous(
    *, queue: ReviewQueue, reviewer: AbstractBaseUser | ApiKey, after_id: int
) -> TrainingExample | None:
    """The example before `after_id` in this queue, or None at the top."""
    examples = review_queue(queue=queue, reviewer=reviewer)
    condition = _keyset(queue=queue, after_id=after_id, forward=False)
    if condition is None:
        return None
    return examples.filter(condition).reverse().first()


def review_queue_progress(*, queue: ReviewQueue, reviewer: AbstractBaseUser | ApiKey) -> tuple[int, int, int]:
    """(reviewed in this queue today, that plus what is left in it for this reviewer, reviews today overall)."""
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    todays = Review.objects.filter(created_at__gte=today, **_reviewer_lookup(reviewer)).exclude(
        action=Review.Action.REOPEN
    )
    in_queue = example_list(**{**queue.filters(), "review_status": None})
    reviewed = in_queue.filter(pk__in=todays.values("example_id")).count()
    remaining = review_queue_remaining(queue=queue, reviewer=reviewer)
    return reviewed, reviewed + remaining, todays.count()
