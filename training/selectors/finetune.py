"""Reads for fine-tune runs."""

from __future__ import annotations

from django.db.models import QuerySet

from ready4hire.errors import NotFound

from ..models import FineTuneRun


def finetune_run_get(*, run_id: int) -> FineTuneRun:
    try:
        return FineTuneRun.objects.select_related("dataset_export", "requested_by", "requested_by_key").get(pk=run_id)
    except FineTuneRun.DoesNotExist:
        raise NotFound(f"Fine-tune run {run_id} does not exist.", field="id") from None


def finetune_run_list(*, status: str | None = None, dataset_export_id: int | None = None) -> QuerySet[FineTuneRun]:
    """Runs, newest first."""
    runs = FineTuneRun.objects.select_related("dataset_export", "requested_by", "requested_by_key")
    if status:
        runs = runs.filter(status=status)
    if dataset_export_id is not None:
        runs = runs.filter(dataset_export_id=dataset_export_id)
    return runs.order_by("-created_at", "-id")
