"""Fine-tune tasks, on the `training` queue, on the hosts with the GPUs and the `[train]` extra: one run, and
beat's retraining on schedule (a django-celery-beat row, see migration 0005).

A run takes hours: its hard time limit comes from FINETUNE_TASK_TIME_LIMIT. Its task is acknowledged on
receipt, so Redis never hands it to a second worker while the first still trains; when a worker dies, the
run's heartbeat goes stale and the sweeper (ready4hire/jobs.py) restarts it cleanly or fails it.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from ready4hire.errors import DomainError
from ready4hire.tasks import JobTask

from ..services.finetune import finetune_run_execute, finetune_run_fail
from ..services.finetune_schedule import finetune_retrain_if_due

logger = logging.getLogger(__name__)


@shared_task(
    base=JobTask,
    bind=True,
    queue_name="training",
    acks_late=False,
    fail_with=finetune_run_fail,
    time_limit=settings.FINETUNE_TASK_TIME_LIMIT,
    soft_time_limit=max(60, settings.FINETUNE_TASK_TIME_LIMIT - 300),
)
def finetune_run_task(self, run_id: int) -> None:
    """Execute one fine-tune run. The service records failures on the row and never trains a run twice;
    only a database hiccup before the run was claimed is retried."""
    finetune_run_execute(run_id=run_id, celery_task_id=self.request.id or "")


@shared_task(queue_name="training")
def finetune_if_due_task() -> int | None:
    """Start a fine-tune run when the newest export has enough new examples; returns the run's id.

    The setting is read here: beat's periodic task stays in its database whether the setting is on or off.
    """
    if not settings.FINETUNE_SCHEDULE_ENABLED:
        return None
    try:
        outcome = finetune_retrain_if_due(min_new_examples=settings.FINETUNE_SCHEDULE_MIN_NEW_EXAMPLES)
    except DomainError as exc:
        # A scheduled run cannot be started (the [train] extra is missing, the base model is gone): say why in
        # the worker log and try again next time, rather than fail beat's task every interval.
        logger.warning("Scheduled retraining not started: %s", exc)
        return None
    logger.info("Scheduled retraining: %s", outcome.reason)
    return outcome.run.pk if outcome.run else None
