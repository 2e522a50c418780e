"""Beat's calibration refit (a django-celery-beat row, see migration 0013): refits each grader's calibration
once enough new reviews arrived. On the `evaluation` queue, which every deployment serves: the fit takes
milliseconds and what it changes is how grades come out."""

from __future__ import annotations

import logging

from celery import shared_task

from ..services.calibration import calibration_refit_if_due

logger = logging.getLogger(__name__)


@shared_task(queue_name="evaluation")
def calibration_refit_if_due_task() -> list[int]:
    """Fit the calibrations that have CALIBRATION_REFIT_MIN_NEW_REVIEWS new reviews; returns their ids."""
    fitted = calibration_refit_if_due()
    for calibration in fitted:
        logger.info("Scheduled calibration %s: MAE %s → %s", calibration, calibration.mae_before, calibration.mae_after)
    return [calibration.pk for calibration in fitted]
