"""The grading task, on the `evaluation` queue (the default one), beside live traffic."""

from __future__ import annotations

from celery import shared_task

from ready4hire.tasks import JobTask

from .services import evaluation_fail, evaluation_run


# Live grading retries more often, and sooner, than the long training jobs. Acknowledged late: a grade is
# short, so Redis hands it to another worker when this one dies (CELERY_BROKER_TRANSPORT_OPTIONS).
@shared_task(
    base=JobTask,
    queue_name="evaluation",
    acks_late=True,
    fail_with=evaluation_fail,
    max_retries=5,
    retry_backoff_max=60,
)
def evaluation_run_task(evaluation_id: int) -> None:
    """Grade one stored evaluation. LLM faults are handled inside (retry, then heuristic); only database
    hiccups are retried here, and a final failure is recorded on the row."""
    evaluation_run(evaluation_id=evaluation_id)
