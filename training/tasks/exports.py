"""Dataset export tasks, on the `exports` queue, away from grading: one submitted export, and beat's
periodic export (a django-celery-beat row, see migrations 0004 and 0005)."""

from __future__ import annotations

from celery import shared_task

from ready4hire.tasks import JobTask

from ..services.exports import dataset_export_fail, dataset_export_if_due, dataset_export_run


# Acknowledged on receipt: a worker that dies is noticed by the heartbeat, and the sweeper restarts the export.
@shared_task(base=JobTask, queue_name="exports", acks_late=False, fail_with=dataset_export_fail)
def export_dataset_task(export_id: int) -> None:
    """Write one submitted export. Only database hiccups are retried; a final failure is recorded on the row."""
    dataset_export_run(export_id=export_id)


@shared_task(queue_name="exports")
def export_dataset_if_due_task() -> int | None:
    """Celery beat's periodic export: exports when enough new examples were approved; returns the export id."""
    export = dataset_export_if_due()
    return export.pk if export else None
