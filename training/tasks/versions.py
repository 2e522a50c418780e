"""Retraining on schedule. Named `training.tasks.finetune_*`, so CELERY_TASK_ROUTES sends it to the
`training` queue with the runs it starts; beat calls it every FINETUNE_SCHEDULE_INTERVAL_MINUTES when
FINETUNE_SCHEDULE_ENABLED."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from ready4hire.errors import DomainError

from ..services.versions import finetune_retrain_if_due

logger = logging.getLogger(__name__)


@shared_task(name="training.tasks.finetune_if_due_task")
def finetune_if_due_task() -> int | None:
    """Start a fine-tune run when the newest export has enough new examples; returns the run's id.

    The setting is read here too: beat keeps a periodic task in its database after the setting is turned off.
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
