"""A/B comparisons (mounted at /api/v1/comparisons): start one, follow it, read its report."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from ..schemas.comparisons import ComparisonDetailOut, ComparisonIn, ComparisonListFilters, ComparisonListOut
from ..selectors.comparisons import comparison_get, comparison_list
from ..services.comparisons import comparison_create
from .examples import _require_perm

router = Router(tags=["comparisons"])


@router.post("", response={202: ComparisonDetailOut})
def comparison_start(request: HttpRequest, payload: ComparisonIn):
    """Queue a comparison of two or more models (the base first) on human-reviewed examples: an export's
    split (`dataset_id`) or approved examples matching `filters`. Poll `GET /comparisons/{id}` for the report."""
    _require_perm(request, "training.add_comparisonrun")
    run = comparison_create(
        models=[(model.label, model.ref) for model in payload.models],
        dataset_export_id=payload.dataset_id,
        split=payload.split,
        filters=payload.filters.model_dump(exclude_none=True) if payload.filters else None,
        repeats=payload.repeats,
        limit=payload.limit,
        seed=payload.seed,
        name=payload.name,
        requested_by=request.auth,
    )
    return Status(202, run)


@router.get("", response=ComparisonListOut)
def comparisons(request: HttpRequest, query: Query[ComparisonListFilters]):
    """Comparisons, newest first."""
    runs = comparison_list(status=query.status)
    start = (query.page - 1) * query.page_size
    return {"items": list(runs[start : start + query.page_size]), "count": runs.count()}


@router.get("/{int:comparison_id}", response=ComparisonDetailOut)
def comparison_detail(request: HttpRequest, comparison_id: int):
    """A comparison with its progress and, once done, its report."""
    return comparison_get(comparison_id=comparison_id)
