"""The comparison task, on the `training` queue: grading a whole set, maybe with a GGUF served by llama.cpp,
belongs on the training hosts, not beside live grading."""

from __future__ import annotations

from celery import shared_task

from ready4hire.tasks import JobTask

from ..services.comparisons import comparison_fail, comparison_run


# Acknowledged on receipt: a worker that dies is noticed by the heartbeat, and the sweeper resumes the run.
@shared_task(base=JobTask, queue_name="training", acks_late=False, fail_with=comparison_fail)
def comparison_run_task(comparison_id: int) -> None:
    """Run one comparison (resuming where a previous attempt stopped). Only database hiccups are retried;
    LLM faults are per-grade misses inside, and a final failure is recorded on the row."""
    comparison_run(comparison_id=comparison_id)
