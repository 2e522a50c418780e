"""Curation over the API (mounted at /api/v1/training/): statistics, the examples and their review, and the
collection settings."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import HttpRequest
from ninja import Query, Router
from ninja.pagination import paginate

from evaluation.auth import request_actor, require_permission
from ready4hire.pagination import Pagination

from ..schemas import CollectionSettingsIO, ExampleFilters, ExampleOut, ReviewIn, TrainingStatsOut
from ..selectors import collection_settings_get, example_get, example_list, training_stats
from ..services import (
    collection_settings_update,
    example_approve,
    example_correct,
    example_reject,
    example_reopen,
)

router = Router(tags=["training"])


@router.get("stats", response=TrainingStatsOut)
def stats(request: HttpRequest):
    return training_stats()


@router.get("examples", response=list[ExampleOut])
@paginate(Pagination)
def examples(request: HttpRequest, filters: Query[ExampleFilters]):
    """Training examples, newest first, filtered and paginated (`page`, `page_size`)."""
    return example_list(**filters.model_dump())


@router.get("examples/{int:example_id}", response=ExampleOut)
def example_detail(request: HttpRequest, example_id: int):
    return example_get(example_id=example_id)


@router.post("examples/{int:example_id}/review", response=ExampleOut)
def example_review(request: HttpRequest, example_id: int, payload: ReviewIn):
    """Approve, reject, correct (score, breakdown or a full label) or send an example back to the queue."""
    require_permission(request, "training.change_trainingexample")
    common = {"example_id": example_id, "reviewer": request_actor(request).principal, "note": payload.note}
    if payload.action == "approve":
        example_approve(**common)
    elif payload.action == "reject":
        example_reject(**common)
    elif payload.action == "reopen":
        example_reopen(**common)
    else:
        example_correct(
            **common,
            score=payload.score,
            breakdown=payload.breakdown,
            label=payload.label,
            justification=payload.justification,
            missing_concepts=payload.missing_concepts,
        )
    return example_get(example_id=example_id)


def _settings_out(collection_settings) -> dict:
    return {
        "enabled": collection_settings.enabled,
        "min_score_threshold": collection_settings.min_score_threshold,
        "sources": collection_settings.sources,
    }


@router.get("collection", response=CollectionSettingsIO)
def collection(request: HttpRequest):
    return _settings_out(collection_settings_get())


@router.put("collection", response=CollectionSettingsIO)
def collection_update(request: HttpRequest, payload: CollectionSettingsIO):
    require_permission(request, "training.change_collectionsettings")
    return _settings_out(collection_settings_update(**payload.model_dump(), updated_by=request_actor(request).user))
