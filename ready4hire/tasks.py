"""The base Celery task of every job that keeps its state on a row (a grade, an export, a fine-tune run, a
comparison, a Modelfile push or validation): database hiccups retried with backoff, the final failure
recorded on the row."""

from __future__ import annotations

from collections.abc import Callable
from inspect import signature
from typing import Any, ClassVar

from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError


class JobTask(DjangoTask):
    """A task running one job, whose id is its first argument (`evaluation_id`, `export_id`, `run_id`, …).

    A DjangoTask, as Celery's default task class under Django is, for `delay_on_commit`. Each task names
    `fail_with`, the service that fails its row, taking that same keyword and `error`:
    `@shared_task(base=JobTask, queue="exports", fail_with=dataset_export_fail)`.

    A service hands its row back before a database error reaches the task, so a retry claims it again;
    when the retries run out, `on_failure` records that the task gave up. Every other failure was already
    recorded by the service, in its own words, and is left as it stands.
    """

    fail_with: ClassVar[Callable[..., Any]]
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
