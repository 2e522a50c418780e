from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from ninja import Query, Router

from ready4hire.errors import Forbidden

from ..schemas import CollectionSettingsIO, ExampleFilters, ExampleListOut, ExampleOut, ReviewIn, TrainingStatsOut
from ..selectors import collection_settings_get, example_get, example_list, training_stats
from ..services import (
    collection_settings_update,
    example_approve,
    example_correct,
    example_reject,
    example_reopen,
)

router = Router(tags=["training"])


def _require_perm(request: HttpRequest, permission: str) -> None:
    """API keys belong to trusted programs; a staff session needs the same permission as in the admin."""
    user = request.auth
    if isinstance(user, AbstractBaseUser) and not user.has_perm(permission):
        raise Forbidden(f"Your account lacks the '{permission}' permission.")


@router.get("stats", response=TrainingStatsOut)
def stats(request: HttpRequest):
    return training_stats()


@router.get("examples", response=ExampleListOut)
def examples(request: HttpRequest, filters: Query[ExampleFilters]):
    """Training examples, newest first, filtered and paginated (`page`, `page_size`)."""
    matching = example_list(**filters.model_dump(exclude={"page", "page_size"}))
    start = (filters.page - 1) * filters.page_size
    return {"items": list(matching[start : start + filters.page_size]), "count": matching.count()}


@router.get("examples/{int:example_id}", response=ExampleOut)
def example_detail(request: HttpRequest, example_id: int):
    return example_get(example_id=example_id)


@router.post("examples/{int:example_id}/review", response=ExampleOut)
def example_review(request: HttpRequest, example_id: int, payload: ReviewIn):
    """Approve, reject, correct (score, breakdown or a full label) or send an example back to the queue."""
    _require_perm(request, "training.change_trainingexample")
    common = {"example_id": example_id, "reviewer": request.auth, "note": payload.note}
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
    _require_perm(request, "training.change_collectionsettings")
    user = request.auth if isinstance(request.auth, AbstractBaseUser) else None
    return _settings_out(collection_settings_update(**payload.model_dump(), updated_by=user))
