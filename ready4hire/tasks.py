"""The base Celery task of every job that keeps its state on a row (a grade, an export, a fine-tune run, a
comparison, a Modelfile push or validation): database hiccups retried with backoff, the final failure
recorded on the row. Beside it: the one task router (each task's `queue_name`) and the job sweeper's task."""

from __future__ import annotations

from collections.abc import Callable
from inspect import signature
from typing import Any, ClassVar

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError

from .jobs import jobs_sweep


def route_by_queue_name(name: str, args: Any, kwargs: Any, options: dict, task: Any = None, **rest: Any) -> Any:
    """CELERY_TASK_ROUTES' router: the queue a task names where it is declared (`queue_name=...`).

    Celery deprecates a `queue` attribute on the task itself; routing through the setting keeps the queue
    written on the decorator, beside the task it belongs to.
    """
    if task is None:  # routed by name alone (send_task, or a caller without the task object)
        from .celery import app

        task = app.tasks.get(name)
    queue = getattr(task, "queue_name", None)
    return {"queue": queue} if queue else None


class JobTask(DjangoTask):
    """A task running one job, whose id is its first argument (`evaluation_id`, `export_id`, `run_id`, …).

    A DjangoTask, as Celery's default task class under Django is, for `delay_on_commit`. Each task names
    `fail_with`, the service that fails its row, taking that same keyword and `error`:
    `@shared_task(base=JobTask, queue_name="exports", fail_with=dataset_export_fail)`.

    A service hands its row back before a database error reaches the task, so a retry claims it again;
    when the retries run out, `on_failure` records that the task gave up. Every other failure was already
    recorded by the service, in its own words, and is left as it stands.
    """

    fail_with: ClassVar[Callable[..., Any]]
    queue_name: ClassVar[str | None] = None
    autoretry_for = (OperationalError, InterfaceError)
    retry_backoff = True
    retry_backoff_max = 120
    max_retries = 3

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if not isinstance(exc, self.autoretry_for):
            return
        job_argument, job_id = next(iter(signature(self.run).bind(*args, **kwargs).arguments.items()))
        # Read from the class: a function stored on the class and read from the instance would be bound to it.
        type(self).fail_with(**{job_argument: job_id}, error=f"gave up after {self.request.retries} retries: {exc}")


# On the grading queue, which every deployment serves: the sweeper must run even where no training worker does.
@shared_task(queue_name="evaluation")
def jobs_sweep_task() -> dict[str, dict[str, list[int]]]:
    """Celery beat's job sweeper (every minute): take back stale jobs, dispatch undispatched ones."""
    return {
        kind: {"requeued": report.requeued, "failed": report.failed, "dispatched": report.dispatched}
        for kind, report in jobs_sweep().items()
        if report.requeued or report.failed or report.dispatched
    }
