"""Curation over the API (mounted at /api/v1/training/): statistics, the examples and their review, the
review queue, agreement between reviewers, and the collection settings."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from evaluation.auth import request_actor, request_reviewer, require_permission, scoped
from ready4hire.pagination import Pagination

from ..models import TrainingExample
from ..schemas import (
    AgreementOut,
    CollectionSettingsIO,
    ExampleDetailOut,
    ExampleFilters,
    ExampleOut,
    QueueExampleOut,
    QueueFilters,
    ReviewIn,
    TrainingStatsOut,
)
from ..selectors import (
    ReviewQueue,
    collection_settings_get,
    example_get,
    example_list,
    review_queue_remaining,
    training_stats,
)
from ..selectors.agreement import agreement_report
from ..selectors.calibration import agreement_monitor
from ..services import (
    collection_settings_update,
    example_adjudicate,
    example_reopen,
    example_reserve_next,
    example_review,
)

REVIEW_PERMISSION = "training.change_trainingexample"

router = Router(tags=["training"], auth=scoped("review", session_permission="training.view_trainingexample"))
# Statistics are curation, yet the admin shows them to whoever may see the examples (reviewers included).
STATS_PERMISSION = "training.view_trainingexample"
COLLECTION_ACCESS = scoped("curate", session_permission="training.view_collectionsettings")


@router.get("stats", response=TrainingStatsOut, auth=scoped("curate", session_permission=STATS_PERMISSION))
def stats(request: HttpRequest):
    return {**training_stats(), "agreement_monitor": agreement_monitor()}


@router.get("examples", response=list[ExampleOut])
@paginate(Pagination)
def examples(request: HttpRequest, filters: Query[ExampleFilters]):
    """Training examples, newest first, filtered and paginated (`page`, `page_size`)."""
    return example_list(**filters.model_dump())


@router.get("examples/{int:example_id}", response=ExampleDetailOut)
def example_detail(request: HttpRequest, example_id: int):
    return example_get(example_id=example_id)


@router.post("examples/{int:example_id}/review", response=ExampleDetailOut)
def example_review_submit(request: HttpRequest, example_id: int, payload: ReviewIn):
    """Record one review (approve, reject or correct with a score, a breakdown or a full label) or send a
    decided example back to the queue; the example comes back with its resulting `review_status`.

    Reviews are attributed to a person: a staff session, or a key bound to a user (403 otherwise). An example
    whose reviews disagree (`adjudication`) is decided only by an adjudicator.
    """
    require_permission(request, REVIEW_PERMISSION)
    reviewer = request_reviewer(request)
    if payload.action == "reopen":
        example_reopen(example_id=example_id, reviewer=reviewer, note=payload.note)
        return example_get(example_id=example_id)
    review = {
        "example": example_id,
        "action": payload.action,
        "score": payload.score,
        "breakdown": payload.breakdown,
        "label": payload.label,
        "justification": payload.justification,
        "missing_concepts": payload.missing_concepts,
        "note": payload.note,
        "seconds_spent": payload.seconds_spent,
    }
    if example_get(example_id=example_id).review_status == TrainingExample.ReviewStatus.ADJUDICATION:
        example_adjudicate(user=reviewer, **review)
    else:
        example_review(reviewer=reviewer, expected_version=payload.expected_version, **review)
    return example_get(example_id=example_id)


@router.get("queue/next", response={200: QueueExampleOut, 204: None})
def queue_next(request: HttpRequest, filters: Query[QueueFilters]):
    """The next example to review in this queue (the example list's filters, plus `order`), held for the
    caller for the collection's `review_reservation_seconds`; 204 when nothing is left for them."""
    require_permission(request, REVIEW_PERMISSION)
    reviewer = request_reviewer(request)
    queue = ReviewQueue(**filters.model_dump())
    example = example_reserve_next(queue=queue, reviewer=reviewer)
    if example is None:
        return Status(204, None)
    example = example_get(example_id=example.pk)
    example.remaining = review_queue_remaining(queue=queue, reviewer=reviewer, excluding=example.pk)
    return example


@router.get("agreement", response=AgreementOut)
def agreement(request: HttpRequest):
    """How far reviewers agree with each other and with the machine grader."""
    return agreement_report()


def _settings_out(collection_settings) -> dict:
    return {
        "enabled": collection_settings.enabled,
        "min_score_threshold": collection_settings.min_score_threshold,
        "sources": collection_settings.sources,
        "reviews_required": collection_settings.reviews_required,
        "review_reservation_seconds": collection_settings.review_reservation_seconds,
    }


@router.get("collection", response=CollectionSettingsIO, auth=COLLECTION_ACCESS)
def collection(request: HttpRequest):
    return _settings_out(collection_settings_get())


@router.put("collection", response=CollectionSettingsIO, auth=COLLECTION_ACCESS)
def collection_update(request: HttpRequest, payload: CollectionSettingsIO):
    require_permission(request, "training.change_collectionsettings")
    return _settings_out(collection_settings_update(**payload.model_dump(), updated_by=request_actor(request).user))
