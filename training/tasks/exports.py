"""Dataset export tasks. Their names are `training.tasks.export_*` (set explicitly: the module path would add
`exports.`), so CELERY_TASK_ROUTES sends them to the `exports` queue, away from grading."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from ..services.exports import dataset_export_fail, dataset_export_if_due, dataset_export_run


@shared_task(
    name="training.tasks.export_dataset_task",
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=3,
)
def export_dataset_task(self, export_id: int) -> None:
    """Write one submitted export. Only database hiccups are retried; a final failure is recorded on the row."""
    try:
        dataset_export_run(export_id=export_id)
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries >= self.max_retries:
            dataset_export_fail(export_id=export_id, error=f"gave up after {self.request.retries} retries: {exc}")
        raise


@shared_task(name="training.tasks.export_dataset_if_due_task")
def export_dataset_if_due_task() -> int | None:
    """Celery beat's periodic export: exports when enough new examples were approved; returns the export id."""
    export = dataset_export_if_due()
    return export.pk if export else None
