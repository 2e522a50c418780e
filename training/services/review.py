"""Review: every decision is a `Review` row, and an example's status follows from its current reviews.

The rules, the same from the review screen, the admin, the API and code:
- `example_review` is one reviewer's review of an example from the queue. It is refused when another
  reviewer holds the example, when it is already decided, when the reviewer already reviewed it, when the
  page it was made on is stale (`expected_version`), or when the score or breakdown is wrong. With
  `reviews_required` = N the example stays pending until N different people reviewed it; their agreement
  (`training.consensus`) approves it with the median score or rejects it, their disagreement sends it to
  adjudication, which only users with the `adjudicate` permission resolve (`example_adjudicate`).
- approve / reject / correct / reopen (`example_approve`, ...) keep their earlier meaning for the admin's
  bulk actions and old clients: on a pending example they are a review; a decided example can be rejected,
  corrected or sent back to the queue by one person, and approving it again changes nothing. A rejected
  example is approved or corrected only after it is sent back to the queue.
- a correction keeps the machine's first label in `original_label` and marks the source `human`. When it
  changes the score and brings no justification of its own, the machine's justification no longer explains
  the score, so it is replaced by the reviewer's note (empty when there is none), never kept stale.
- a review made without a person or a key (the demo) is automatic: it decides at once and is never counted
  as a human review.
Every decision records who and when on the row and, for people, in the admin log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction

from evaluation.llm.parsing import normalise_grade
from evaluation.llm.schema import BREAKDOWN_MAXIMA, SCORE_MAX
from evaluation.models import ApiKey
from ready4hire.errors import Conflict, Forbidden, InvalidInput

from ..consensus import Vote, consensus
from ..models import Review, TrainingExample
from ..selectors import collection_settings_get
from .labels import label_validate, number_validate
from .review_state import (
    ADJUDICATE_PERMISSION,
    example_locked,
    example_reserve,
    example_reserve_next,
    example_review_undo,
    is_person,
    record_decision,
    reservation_check,
    review_row,
)

__all__ = [
    "example_adjudicate",
    "example_approve",
    "example_correct",
    "example_correction_label",
    "example_reject",
    "example_reopen",
    "example_reserve",
    "example_reserve_next",
    "example_review",
    "example_review_check",
    "example_review_undo",
]

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Reviewer = AbstractBaseUser | ApiKey | None

ReviewAction = Literal["approve", "reject", "correct", "reopen"]
Status = TrainingExample.ReviewStatus
Action = Review.Action
CORRECTION_PARTS = ("score", "breakdown", "label", "justification", "missing_concepts")
# A breakdown and a score given together may differ by rounding, not by more.
BREAKDOWN_TOLERANCE = 0.1


def example_review_check(*, example: TrainingExample, action: ReviewAction) -> None:
    """Raise Conflict when `action` is not allowed on the example in its current state."""
    if example.review_status == Status.REJECTED and action in ("approve", "correct"):
        verb = "approved" if action == "approve" else "corrected"
        raise Conflict(
            f"Example #{example.pk} was rejected, so it cannot be {verb}. Send it back to the review queue first.",
            field="review_status",
        )


def example_correction_label(
    *,
    current: Mapping[str, Any],
    score: Any = None,
    breakdown: Mapping[str, Any] | None = None,
    label: Mapping[str, Any] | None = None,
    justification: str | None = None,
    missing_concepts: Iterable[str] | None = None,
    note: str = "",
) -> dict[str, Any]:
    """The corrected label: `label` (a full grade) or the current one, with the given parts replaced.

    Every value is checked strictly (a score of 11 is an error, not a 10). A breakdown given without a
    score sets the score to its sum; given with a score, it must add up to it. A new score without a new
    justification replaces the old justification by `note`.
    """
    if all(value is None for value in (score, breakdown, label, justification, missing_concepts)):
        raise InvalidInput("Nothing to correct: give a score, a breakdown or a full label.", field="score")
    corrected = label_validate(label).model_dump() if label is not None else dict(current)
    if breakdown is not None:
        if not isinstance(breakdown, Mapping) or set(breakdown) != set(BREAKDOWN_MAXIMA):
            raise InvalidInput(
                f"The breakdown needs exactly these parts: {', '.join(BREAKDOWN_MAXIMA)}.", field="breakdown"
            )
        corrected["breakdown"] = {
            name: number_validate(breakdown[name], field=f"breakdown.{name}", low=0.0, high=top)
            for name, top in BREAKDOWN_MAXIMA.items()
        }
        if score is None and label is None:
            corrected["score"] = round(sum(corrected["breakdown"].values()), 1)
    if score is not None:
        corrected["score"] = number_validate(score, field="score", low=0.0, high=SCORE_MAX)
        total = sum(corrected["breakdown"].values()) if breakdown is not None else corrected["score"]
        if abs(total - corrected["score"]) > BREAKDOWN_TOLERANCE:
            raise InvalidInput(
                f"The breakdown adds up to {total:g}, not to the score {corrected['score']:g}: "
                "change one of them so they agree.",
                field="breakdown",
            )
    if justification is not None:
        corrected["justification"] = str(justification)
    elif label is None and corrected["score"] != current.get("score"):
        corrected["justification"] = note.strip()
    if missing_concepts is not None:
        if isinstance(missing_concepts, str):
            raise InvalidInput("missing_concepts must be a list of strings.", field="missing_concepts")
        corrected["missing_concepts"] = [str(item) for item in missing_concepts]
    return normalise_grade(label_validate(corrected).model_dump()).model_dump()


def _log(example: TrainingExample, *, reviewer: Reviewer, message: str, note: str) -> None:
    """People's reviews go to the admin log, the history reviewers and auditors already know."""
    if not is_person(reviewer):
        return
    note = note.strip()
    LogEntry.objects.log_actions(
        user_id=reviewer.pk,
        queryset=[example],
        action_flag=CHANGE,
        change_message=f"{message} Note: {note}" if note else message,
        single_object=True,
    )


def _proposal(example: TrainingExample, action: str, correction: dict[str, Any], note: str) -> dict | None:
    """The label a review proposes (None for a rejection), validated before anything is written."""
    if action == Action.REJECT:
        if any(value is not None for value in correction.values()):
            raise InvalidInput("A rejection takes no score or breakdown.", field="score")
        return None
    if action == Action.APPROVE:
        score = correction.get("score")
        given = [name for name, value in correction.items() if value is not None and name != "score"]
        if given or (score is not None and number_validate(score, field="score", low=0, high=10) != example.score):
            raise InvalidInput("Approve keeps the grade as it is; send a changed score as a correction.", field="score")
        return example.label
    return example_correction_label(current=example.label, note=note, **correction)


def _describe_correction(previous: dict, label: dict) -> str:
    changed = [name for name in label if label[name] != previous["label"].get(name)]
    parts = [f"score {previous['score']:g} → {label['score']:g}" if "score" in changed else ""]
    parts += [name.replace("_", " ") for name in changed if name != "score"]
    return ", ".join(part for part in parts if part) or "label confirmed unchanged"


def _decide(example: TrainingExample, current: list[Review], *, label: dict | None) -> tuple[str, dict | None]:
    """The status and label the current reviews decide (a single review decides alone)."""
    if len(current) == 1:
        return (Status.REJECTED, None) if label is None else (Status.APPROVED, label)
    decision = consensus([Vote(review.verdict, review.score) for review in current])
    if decision.status != Status.APPROVED:
        return decision.status, None
    # The label of the review closest to the median score; scaled to the median when none gives it exactly.
    closest = min(current, key=lambda review: (abs((review.score or 0) - decision.score), -review.pk))
    chosen = dict(closest.label or example.label)
    if chosen["score"] != decision.score:
        notes = " ".join(review.note.strip() for review in current if review.note.strip())
        chosen.update(score=decision.score, justification=notes)
        chosen = normalise_grade(chosen).model_dump()
    return Status.APPROVED, chosen


def _apply(
    example: TrainingExample,
    *,
    reviewer: Reviewer,
    kind: str,
    action: str,
    label: dict | None,
    note: str,
    seconds_spent: float | None,
    decides: bool,
) -> Review:
    """Store one review and, when it completes the example's reviews (or `decides`), the decision."""
    review = review_row(
        example, reviewer=reviewer, kind=kind, action=action, label=label, note=note, seconds_spent=seconds_spent
    )
    if decides:
        example.reviews.filter(current=True).exclude(pk=review.pk).update(current=False)
        current = [review]
    else:
        current = list(example.reviews.filter(current=True).select_related(None).order_by("pk"))
    required = collection_settings_get().reviews_required
    if decides or len(current) >= required:
        status, final = _decide(example, current, label=label)
        record_decision(example, reviewer=reviewer, status=status, label=final, note=note, kind=kind)
    else:
        example.reserved_by, example.reserved_until = None, None
        example.version += 1
        example.save(update_fields=["reserved_by", "reserved_until", "version"])
    review.version_after = example.version
    review.save(update_fields=["version_after"])
    return review


def _message(example: TrainingExample, *, action: str, label: dict | None, previous: dict) -> str:
    if example.review_status == Status.PENDING:
        return f"Reviewed ({action}); waiting for more reviews."
    if example.review_status == Status.ADJUDICATION:
        return "Reviewed; the reviews disagree, so it needs adjudication."
    if example.review_status == Status.REJECTED:
        return "Rejected."
    if action == Action.CORRECT and label is not None:
        return f"Corrected ({_describe_correction(previous, label)}) and approved."
    return "Approved."


def _review(
    example_id: int,
    *,
    reviewer: Reviewer,
    action: str,
    correction: dict[str, Any],
    note: str,
    seconds_spent: float | None,
    expected_version: int | None,
    from_queue: bool,
) -> TrainingExample:
    if seconds_spent is not None:
        seconds_spent = number_validate(seconds_spent, field="seconds_spent", low=0.0, high=86400.0)
    with transaction.atomic():
        example = example_locked(example_id)
        if expected_version is not None and example.version != expected_version:
            raise Conflict(
                f"Example #{example.pk} changed since you opened it (now {example.review_status}, last reviewed by "
                f"{example.reviewer_name or 'someone else'}). Reload it: your review was not saved.",
                field="version",
            )
        reservation_check(example, reviewer=reviewer)
        if example.review_status == Status.ADJUDICATION and action != Action.REOPEN:
            raise Conflict(
                f"Example #{example.pk} needs adjudication: its reviews disagree. Only an adjudicator decides it.",
                field="review_status",
            )
        if action == Action.REOPEN:
            return _reopen(example, reviewer=reviewer, note=note)
        example_review_check(example=example, action=action)
        decided = example.review_status != Status.PENDING
        if decided and from_queue:
            raise Conflict(f"Example #{example.pk} is already {example.review_status}.", field="review_status")
        if decided and action == Action.APPROVE and example.review_status == Status.APPROVED:
            return example
        if decided and action == Action.REJECT and example.review_status == Status.REJECTED:
            return example
        if not decided and reviewer is not None and example.reviews.filter(current=True, **_who(reviewer)).exists():
            raise Conflict(f"You already reviewed example #{example.pk}.", field="id")
        label = _proposal(example, action, correction, note)
        previous = {"label": example.label, "score": example.score}
        kind = Review.Kind.REVIEW if reviewer is not None else Review.Kind.AUTOMATIC
        _apply(
            example,
            reviewer=reviewer,
            kind=kind,
            action=action,
            label=label,
            note=note,
            seconds_spent=seconds_spent,
            decides=decided or kind == Review.Kind.AUTOMATIC,
        )
        _log(
            example,
            reviewer=reviewer,
            message=_message(example, action=action, label=label, previous=previous),
            note=note,
        )
    return example


def _who(reviewer: AbstractBaseUser | ApiKey) -> dict[str, Any]:
    return {"api_key": reviewer} if isinstance(reviewer, ApiKey) else {"reviewer": reviewer}


def _reopen(example: TrainingExample, *, reviewer: Reviewer, note: str) -> TrainingExample:
    if example.review_status == Status.PENDING:
        return example
    previous = example.review_status
    review = review_row(
        example, reviewer=reviewer, kind=Review.Kind.REVIEW, action=Action.REOPEN, label=None, note=note
    )
    example.reviews.filter(current=True).update(current=False)
    Review.objects.filter(pk=review.pk).update(current=False)
    record_decision(example, reviewer=reviewer, status=Status.PENDING, label=None, note=note, kind=Review.Kind.REVIEW)
    Review.objects.filter(pk=review.pk).update(version_after=example.version)
    _log(example, reviewer=reviewer, message=f"Sent back to the review queue (was {previous}).", note=note)
    return example


def example_review(
    *,
    example: TrainingExample | int,
    reviewer: AbstractBaseUser | ApiKey | None,
    action: str,
    score: Any = None,
    breakdown: Mapping[str, Any] | None = None,
    note: str = "",
    seconds_spent: float | None = None,
    expected_version: int | None = None,
    label: Mapping[str, Any] | None = None,
    justification: str | None = None,
    missing_concepts: Iterable[str] | None = None,
) -> str:
    """Record one review of an example from the queue; returns the example's resulting review status."""
    if action not in (Action.APPROVE, Action.REJECT, Action.CORRECT):
        raise InvalidInput(f"Unknown review action {action!r}: expected approve, reject or correct.", field="action")
    example_id = example.pk if isinstance(example, TrainingExample) else example
    correction = _correction(
        score=score, breakdown=breakdown, label=label, justification=justification, missing_concepts=missing_concepts
    )
    return _review(
        example_id,
        reviewer=reviewer,
        action=action,
        correction=correction,
        note=note,
        seconds_spent=seconds_spent,
        expected_version=expected_version,
        from_queue=True,
    ).review_status


def example_adjudicate(
    *,
    example: TrainingExample | int,
    user: AbstractBaseUser,
    action: str,
    score: Any = None,
    breakdown: Mapping[str, Any] | None = None,
    note: str = "",
    seconds_spent: float | None = None,
    label: Mapping[str, Any] | None = None,
    justification: str | None = None,
    missing_concepts: Iterable[str] | None = None,
) -> str:
    """An adjudicator's final decision on an example whose reviews disagree; returns the resulting status."""
    if not is_person(user) or not user.has_perm(ADJUDICATE_PERMISSION):
        raise Forbidden("Only an adjudicator (the 'adjudicate' permission) decides examples whose reviews disagree.")
    if action not in (Action.APPROVE, Action.REJECT, Action.CORRECT):
        raise InvalidInput(f"Unknown adjudication {action!r}: expected approve, reject or correct.", field="action")
    if seconds_spent is not None:
        seconds_spent = number_validate(seconds_spent, field="seconds_spent", low=0.0, high=86400.0)
    correction = _correction(
        score=score, breakdown=breakdown, label=label, justification=justification, missing_concepts=missing_concepts
    )
    with transaction.atomic():
        locked = example_locked(example.pk if isinstance(example, TrainingExample) else example)
        if locked.review_status != Status.ADJUDICATION:
            raise Conflict(f"Example #{locked.pk} does not need adjudication.", field="review_status")
        proposed = _proposal(locked, action, correction, note)
        previous = {"label": locked.label, "score": locked.score}
        _apply(
            locked,
            reviewer=user,
            kind=Review.Kind.ADJUDICATION,
            action=action,
            label=proposed,
            note=note,
            seconds_spent=seconds_spent,
            decides=True,
        )
        message = "Adjudicated: " + _message(locked, action=action, label=proposed, previous=previous)
        _log(locked, reviewer=user, message=message, note=note)
    return locked.review_status


def _correction(**parts: Any) -> dict[str, Any]:
    """Every part a correction may change, None where it is not given."""
    return dict.fromkeys(CORRECTION_PARTS) | parts


def _legacy(example_id: int, *, reviewer: Reviewer, action: str, note: str, **parts: Any) -> TrainingExample:
    return _review(
        example_id,
        reviewer=reviewer,
        action=action,
        correction=_correction(**parts),
        note=note,
        seconds_spent=None,
        expected_version=None,
        from_queue=False,
    )


def example_approve(*, example_id: int, reviewer: Reviewer = None, note: str = "") -> TrainingExample:
    return _legacy(example_id, reviewer=reviewer, action=Action.APPROVE, note=note)


def example_reject(*, example_id: int, reviewer: Reviewer = None, note: str = "") -> TrainingExample:
    return _legacy(example_id, reviewer=reviewer, action=Action.REJECT, note=note)


def example_reopen(*, example_id: int, reviewer: Reviewer = None, note: str = "") -> TrainingExample:
    """Send a reviewed example back to the queue (a correction, if any, stays as the label); its reviews so
    far stop counting, so it is reviewed afresh."""
    return _legacy(example_id, reviewer=reviewer, action=Action.REOPEN, note=note)


def example_correct(
    *,
    example_id: int,
    reviewer: Reviewer = None,
    score: Any = None,
    breakdown: Mapping[str, Any] | None = None,
    label: Mapping[str, Any] | None = None,
    justification: str | None = None,
    missing_concepts: Iterable[str] | None = None,
    note: str = "",
) -> TrainingExample:
    """Propose the reviewer's grade as the training label (with one review required, it is approved at once);
    the machine's label is kept."""
    return _legacy(
        example_id,
        reviewer=reviewer,
        action=Action.CORRECT,
        note=note,
        score=score,
        breakdown=breakdown,
        label=label,
        justification=justification,
        missing_concepts=missing_concepts,
    )
