"""The fine-tune task. Named `training.tasks.finetune_*` (the module path would add `finetune.`), so
CELERY_TASK_ROUTES sends it to the `training` queue, on the hosts with the GPUs and the `[train]` extra.

A run takes hours: its hard time limit comes from FINETUNE_TASK_TIME_LIMIT, and the Redis visibility
timeout (CELERY_BROKER_TRANSPORT_OPTIONS) is longer still, so an unacknowledged run (acks_late) is not
handed to a second worker while the first is still training.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ..services.finetune import finetune_run_execute, finetune_run_fail


@shared_task(
    name="training.tasks.finetune_run_task",
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=3,
    time_limit=settings.FINETUNE_TASK_TIME_LIMIT,
    soft_time_limit=max(60, settings.FINETUNE_TASK_TIME_LIMIT - 300),
)
def finetune_run_task(self, run_id: int) -> None:
    """Execute one fine-tune run. The service records failures on the row and never trains a run twice;
    only a database hiccup before the run was claimed is retried."""
    try:
        finetune_run_execute(run_id=run_id, celery_task_id=self.request.id or "")
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries >= self.max_retries:
            finetune_run_fail(run_id=run_id, error=f"gave up after {self.request.retries} retries: {exc}")
        raise
