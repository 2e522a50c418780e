"""An example's review state: the review rows and the decision they record, reservations, and undo.

Each review row keeps the example's state from just before it (`Review.before`), so a reviewer's last review
can be undone exactly, as long as nothing happened to the example after it (its `version` tells).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from django.utils.formats import date_format

from evaluation.models import ApiKey
from ready4hire.errors import Conflict, Forbidden, NotFound

from ..models import Review, TrainingExample
from ..selectors import collection_settings_get
from ..selectors.queue import ReviewQueue, review_queue_next

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Reviewer = AbstractBaseUser | ApiKey | None

ADJUDICATE_PERMISSION = "training.adjudicate_trainingexample"
Status = TrainingExample.ReviewStatus
# What a review changes on the example, and so what undo puts back.
_STATE_FIELDS = (
    "review_status",
    "label",
    "score",
    "source",
    "original_label",
    "original_score",
    "reviewed_by_id",
    "reviewed_by_key_id",
    "review_note",
    "decided_automatically",
)


def is_person(reviewer: Any) -> bool:
    return reviewer is not None and not isinstance(reviewer, ApiKey) and bool(getattr(reviewer, "pk", None))


def example_locked(example_id: int) -> TrainingExample:
    try:
        return TrainingExample.objects.select_for_update().get(pk=example_id)
    except TrainingExample.DoesNotExist:
        raise NotFound(f"Training example {example_id} does not exist.", field="id") from None


def _held_by_other(example: TrainingExample, reviewer: Reviewer) -> bool:
    if example.reserved_by_id is None or example.reserved_until is None or example.reserved_until <= timezone.now():
        return False
    return not (is_person(reviewer) and reviewer.pk == example.reserved_by_id)


def reservation_check(example: TrainingExample, *, reviewer: Reviewer) -> None:
    """Conflict when another reviewer holds the example (their reservation has not run out)."""
    if _held_by_other(example, reviewer):
        holder = example.reserved_by.get_username() if example.reserved_by else "another reviewer"
        until = date_format(timezone.localtime(example.reserved_until), "H:i")
        raise Conflict(
            f"Example #{example.pk} is being reviewed by {holder} until {until}. Take the next one.",
            field="reserved_by",
        )


def review_row(
    example: TrainingExample,
    *,
    reviewer: Reviewer,
    kind: str,
    action: str,
    label: dict | None,
    note: str,
    seconds_spent: float | None = None,
) -> Review:
    before = {name: getattr(example, name) for name in _STATE_FIELDS}
    before["reviewed_at"] = example.reviewed_at.isoformat() if example.reviewed_at else None
    before["current_review_ids"] = list(example.reviews.filter(current=True).values_list("pk", flat=True))
    return Review.objects.create(
        example=example,
        reviewer=reviewer if is_person(reviewer) else None,
        api_key=reviewer if isinstance(reviewer, ApiKey) else None,
        kind=kind,
        action=action,
        score=None if label is None else label["score"],
        breakdown=None if label is None else label["breakdown"],
        label=label if action == Review.Action.CORRECT else None,
        note=note.strip(),
        seconds_spent=seconds_spent,
        before=before,
    )


def record_decision(
    example: TrainingExample, *, reviewer: Reviewer, status: str, label: dict | None, note: str, kind: str
) -> None:
    """Store the status the reviews decided (and the label, when it changed), who decided it and when."""
    fields = ["review_status", "reviewed_by", "reviewed_by_key", "reviewed_at", "review_note"]
    if label is not None and label != example.label:
        if example.original_label is None:
            # The first correction keeps the machine's grade; later ones only replace the human label.
            example.original_label, example.original_score = example.label, example.score
        example.label, example.score = label, label["score"]
        example.source = TrainingExample.Source.HUMAN
        fields += ["label", "score", "original_label", "original_score", "source"]
    example.review_status = status
    example.reviewed_by = reviewer if is_person(reviewer) else None
    example.reviewed_by_key = reviewer if isinstance(reviewer, ApiKey) else None
    example.reviewed_at = timezone.now()
    example.review_note = note.strip()
    example.decided_automatically = kind == Review.Kind.AUTOMATIC and status == Status.APPROVED
    example.reserved_by, example.reserved_until = None, None
    example.version += 1
    example.save(update_fields=[*fields, "decided_automatically", "reserved_by", "reserved_until", "version"])


def example_reserve(*, example: TrainingExample | int, reviewer: AbstractBaseUser) -> TrainingExample:
    """Hold the example for `reviewer` for `review_reservation_seconds` (their other reservation ends).

    Conflict when another reviewer holds it. A decided example is not held: nothing is left to review.
    """
    if not is_person(reviewer):
        raise Forbidden("Only a person reviews from the queue: use a login or an API key bound to a user.")
    example_id = example.pk if isinstance(example, TrainingExample) else example
    now = timezone.now()
    until = now + timedelta(seconds=collection_settings_get().review_reservation_seconds)
    with transaction.atomic():
        TrainingExample.objects.filter(reserved_by=reviewer).exclude(pk=example_id).update(
            reserved_by=None, reserved_until=None
        )
        taken = (
            TrainingExample.objects.filter(pk=example_id, review_status__in=[Status.PENDING, Status.ADJUDICATION])
            .filter(Q(reserved_by__isnull=True) | Q(reserved_until__lte=now) | Q(reserved_by=reviewer))
            .update(reserved_by=reviewer, reserved_until=until)
        )
        current = TrainingExample.objects.select_related("reserved_by").filter(pk=example_id).first()
        if current is None:
            raise NotFound(f"Training example {example_id} does not exist.", field="id")
        if not taken:
            reservation_check(current, reviewer=reviewer)
    return current


def example_reserve_next(
    *, queue: ReviewQueue, reviewer: AbstractBaseUser, after_id: int | None = None
) -> TrainingExample | None:
    """The next example of the queue, held for `reviewer`; None when the queue is empty for them.

    Two reviewers asking at once may pick the same candidate: the reservation is a conditional update, so
    one of them wins and the other takes the next candidate.
    """
    for _ in range(20):
        candidate = review_queue_next(queue=queue, reviewer=reviewer, after_id=after_id)
        if candidate is None:
            return None
        try:
            return example_reserve(example=candidate, reviewer=reviewer)
        except Conflict:
            continue
    return None


def example_review_undo(*, reviewer: AbstractBaseUser | ApiKey) -> TrainingExample:
    """Undo `reviewer`'s last review, if nothing happened to its example since; the example is held for them."""
    lookup = {"api_key": reviewer} if isinstance(reviewer, ApiKey) else {"reviewer": reviewer}
    with transaction.atomic():
        last = Review.objects.filter(**lookup).order_by("-pk").first()
        if last is None:
            raise NotFound("You have no review to undo.", field="review")
        example = TrainingExample.objects.select_for_update().get(pk=last.example_id)
        if example.version != last.version_after:
            raise Conflict(
                f"Example #{example.pk} changed after your review (another review or decision), so it cannot be "
                "undone here. Open the example to change it.",
                field="review",
            )
        before = last.before
        for name in _STATE_FIELDS:
            setattr(example, name, before[name])
        example.reviewed_at = datetime.fromisoformat(before["reviewed_at"]) if before["reviewed_at"] else None
        example.reviews.exclude(pk=last.pk).update(
            current=Case(When(pk__in=before["current_review_ids"], then=Value(True)), default=Value(False))
        )
        last.delete()
        held = is_person(reviewer)
        example.reserved_by = reviewer if held else None
        seconds = collection_settings_get().review_reservation_seconds
        example.reserved_until = timezone.now() + timedelta(seconds=seconds) if held else None
        example.version += 1
        example.save(
            update_fields=[
                *(name.removesuffix("_id") for name in _STATE_FIELDS),
                "reviewed_at",
                "reserved_by",
                "reserved_until",
                "version",
            ]
        )
        if held:
            LogEntry.objects.log_actions(
                user_id=reviewer.pk,
                queryset=[example],
                action_flag=CHANGE,
                change_message=f"Undid the review ({last.action}).",
                single_object=True,
            )
    return example
