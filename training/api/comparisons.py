"""A/B comparisons (mounted at /api/v1/comparisons): start one, follow it, read its report."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from evaluation.auth import request_actor, require_permission, scoped
from ready4hire.pagination import Pagination

from ..schemas.comparisons import ComparisonDetailOut, ComparisonFilters, ComparisonIn, ComparisonOut
from ..selectors.comparisons import comparison_get, comparison_list
from ..services.comparisons import comparison_cancel, comparison_create

router = Router(tags=["comparisons"], auth=scoped("train", session_permission="training.view_comparisonrun"))


@router.post("", response={202: ComparisonDetailOut})
def comparison_start(request: HttpRequest, payload: ComparisonIn):
    """Queue a comparison of two or more models (the base first) on human-reviewed examples: an export's
    split (`dataset_id`) or approved examples matching `filters`. Poll `GET /comparisons/{id}` for the report."""
    require_permission(request, "training.add_comparisonrun")
    run = comparison_create(
        models=[(model.label, model.ref) for model in payload.models],
        dataset_export_id=payload.dataset_id,
        split=payload.split,
        filters=payload.filters.model_dump(exclude_none=True) if payload.filters else None,
        repeats=payload.repeats,
        limit=payload.limit,
        seed=payload.seed,
        name=payload.name,
        requested_by=request_actor(request).principal,
    )
    return Status(202, run)


@router.get("", response=list[ComparisonOut])
@paginate(Pagination)
def comparisons(request: HttpRequest, filters: Query[ComparisonFilters]):
    """Comparisons, newest first."""
    return comparison_list(**filters.model_dump())


@router.get("/{int:comparison_id}", response=ComparisonDetailOut)
def comparison_detail(request: HttpRequest, comparison_id: int):
    """A comparison with its progress and, once done, its report."""
    return comparison_get(comparison_id=comparison_id)


@router.post("/{int:comparison_id}/cancel", response=ComparisonDetailOut)
def comparison_cancel_endpoint(request: HttpRequest, comparison_id: int):
    """Cancel a pending or running comparison (409 once it finished); a running one stops at its next batch
    of grades."""
    require_permission(request, "training.add_comparisonrun")
    return comparison_cancel(comparison_id=comparison_id)
