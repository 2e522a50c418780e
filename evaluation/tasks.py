from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .services import evaluation_fail, evaluation_run


@shared_task(
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def evaluation_run_task(self, evaluation_id: int) -> None:
    """Grade one stored evaluation. LLM faults are handled inside (retry, then heuristic); only database
    hiccups are retried here, and a final failure is recorded on the row."""
    try:
        evaluation_run(evaluation_id=evaluation_id)
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries >= self.max_retries:
            evaluation_fail(evaluation_id=evaluation_id, error=f"gave up after {self.request.retries} retries: {exc}")
        raise
