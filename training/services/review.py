"""Review: pending → approved | rejected, and corrections that make a human label the training target.

The rules, the same from the admin, the API and code:
- approve, reject and correct work on pending and approved examples; approving an approved example or
  rejecting a rejected one changes nothing;
- a rejected example cannot be approved or corrected until it is sent back to the queue (`example_reopen`),
  so a rejection is never undone by a stray click;
- a correction stores the reviewer's label, keeps the machine's first label in `original_label`, marks the
  source `human` and approves the example.
Every change records who and when on the row and, for people, in the admin log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.utils import timezone

from evaluation.llm.parsing import normalise_grade
from evaluation.llm.schema import BREAKDOWN_MAXIMA, SCORE_MAX
from evaluation.models import ApiKey
from ready4hire.errors import Conflict, InvalidInput, NotFound

from ..models import TrainingExample
from .labels import label_validate, number_validate

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Reviewer = AbstractBaseUser | ApiKey | None

ReviewAction = Literal["approve", "reject", "correct", "reopen"]
Status = TrainingExample.ReviewStatus


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
) -> dict[str, Any]:
    """The corrected label: `label` (a full grade) or the current one, with the given parts replaced.

    Every value is checked strictly (a score of 11 is an error, not a 10). A breakdown given without a
    score sets the score to its sum; when both are given and disagree, the breakdown is scaled to the score,
    the same rule the grader follows.
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
    if justification is not None:
        corrected["justification"] = str(justification)
    if missing_concepts is not None:
        if isinstance(missing_concepts, str):
            raise InvalidInput("missing_concepts must be a list of strings.", field="missing_concepts")
        corrected["missing_concepts"] = [str(item) for item in missing_concepts]
    return normalise_grade(label_validate(corrected).model_dump()).model_dump()


def _locked(example_id: int) -> TrainingExample:
    try:
        return TrainingExample.objects.select_for_update().get(pk=example_id)
    except TrainingExample.DoesNotExist:
        raise NotFound(f"Training example {example_id} does not exist.", field="id") from None


def _record_review(example: TrainingExample, *, reviewer: Reviewer, status: str, note: str) -> list[str]:
    example.review_status = status
    example.reviewed_by = None if isinstance(reviewer, ApiKey) else reviewer
    example.reviewed_by_key = reviewer if isinstance(reviewer, ApiKey) else None
    example.reviewed_at = timezone.now()
    example.review_note = note.strip()
    return ["review_status", "reviewed_by", "reviewed_by_key", "reviewed_at", "review_note"]


def _log(example: TrainingExample, *, reviewer: Reviewer, message: str, note: str) -> None:
    """People's reviews go to the admin log, the history reviewers and auditors already know."""
    if reviewer is None or isinstance(reviewer, ApiKey) or not reviewer.pk:
        return
    note = note.strip()
    LogEntry.objects.log_actions(
        user_id=reviewer.pk,
        queryset=[example],
        action_flag=CHANGE,
        change_message=f"{message} Note: {note}" if note else message,
        single_object=True,
    )


def example_approve(*, example_id: int, reviewer: Reviewer = None, note: str = "") -> TrainingExample:
    with transaction.atomic():
        example = _locked(example_id)
        example_review_check(example=example, action="approve")
        if example.review_status == Status.APPROVED:
            return example
        example.save(update_fields=_record_review(example, reviewer=reviewer, status=Status.APPROVED, note=note))
        _log(example, reviewer=reviewer, message="Approved.", note=note)
    return example


def example_reject(*, example_id: int, reviewer: Reviewer = None, note: str = "") -> TrainingExample:
    with transaction.atomic():
        example = _locked(example_id)
        example_review_check(example=example, action="reject")
        if example.review_status == Status.REJECTED:
            return example
        example.save(update_fields=_record_review(example, reviewer=reviewer, status=Status.REJECTED, note=note))
        _log(example, reviewer=reviewer, message="Rejected.", note=note)
    return example


def example_reopen(*, example_id: int, reviewer: Reviewer = None, note: str = "") -> TrainingExample:
    """Send a reviewed example back to the queue (a correction, if any, stays as the label)."""
    with transaction.atomic():
        example = _locked(example_id)
        if example.review_status == Status.PENDING:
            return example
        previous = example.review_status
        fields = _record_review(example, reviewer=reviewer, status=Status.PENDING, note=note)
        example.save(update_fields=fields)
        _log(example, reviewer=reviewer, message=f"Sent back to the review queue (was {previous}).", note=note)
    return example


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
    """Store the reviewer's grade as the training label and approve the example; the machine's label is kept."""
    with transaction.atomic():
        example = _locked(example_id)
        example_review_check(example=example, action="correct")
        corrected = example_correction_label(
            current=example.label,
            score=score,
            breakdown=breakdown,
            label=label,
            justification=justification,
            missing_concepts=missing_concepts,
        )
        previous_score = example.score
        if example.original_label is None:
            # The first correction keeps the machine's grade; later ones only replace the human label.
            example.original_label, example.original_score = example.label, example.score
        changed = [name for name in corrected if corrected[name] != example.label.get(name)]
        example.label, example.score = corrected, corrected["score"]
        example.source = TrainingExample.Source.HUMAN
        fields = _record_review(example, reviewer=reviewer, status=Status.APPROVED, note=note)
        example.save(update_fields=["label", "score", "original_label", "original_score", "source", *fields])
        parts = [f"score {previous_score:g} → {example.score:g}" if "score" in changed else ""]
        parts += [name.replace("_", " ") for name in changed if name != "score"]
        what = ", ".join(part for part in parts if part) or "label confirmed unchanged"
        _log(example, reviewer=reviewer, message=f"Corrected ({what}) and approved.", note=note)
    return example
