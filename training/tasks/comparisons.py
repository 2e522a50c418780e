"""Comparison tasks. Named `training.tasks.comparison_*` (the module path would add `comparisons.`), so
CELERY_TASK_ROUTES sends them to the `training` queue: grading a whole set, maybe with a GGUF served by
llama.cpp, belongs on the training hosts, not beside live grading."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from ..services.comparisons import comparison_fail, comparison_run


@shared_task(
    name="training.tasks.comparison_run_task",
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=3,
)
def comparison_run_task(self, comparison_id: int) -> None:
    """Run one comparison (resuming where a previous attempt stopped). Only database hiccups are retried;
    LLM faults are per-grade misses inside, and a final failure is recorded on the row."""
    try:
        comparison_run(comparison_id=comparison_id)
    except (OperationalError, InterfaceError) as exc:
        if self.request.retries >= self.max_retries:
            comparison_fail(comparison_id=comparison_id, error=f"gave up after {self.request.retries} retries: {exc}")
        raise
