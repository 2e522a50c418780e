"""The job on a Modelfile row (a push or a validation): queueing it for a worker, claiming the row, storing
progress, finishing, and recording a final failure. The work itself is in `modelfile_push` and
`modelfile_validation`; the Celery tasks are in `training.tasks.modelfiles`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ready4hire.errors import Conflict

from ..models import JobStatus, Modelfile
from ..selectors.modelfiles import modelfile_get
from .ollama_models import ollama_server_require


def _stale_before() -> datetime:
    # A job still 'running' after every retry of its slowest call could have finished twice over: its worker died.
    longest = settings.OLLAMA_ADMIN_TIMEOUT * (settings.OLLAMA_ADMIN_MAX_RETRIES + 1)
    return timezone.now() - timedelta(seconds=2 * longest + 60)


def modelfile_job_claim(modelfile_id: int) -> Modelfile:
    """Mark the Modelfile's job running; Conflict while another push or validation of it runs."""
    modelfile_get(modelfile_id=modelfile_id)  # NotFound first
    claimed = (
        Modelfile.objects.filter(pk=modelfile_id)
        .filter(~Q(status=JobStatus.RUNNING) | Q(started_at__lt=_stale_before()))
        .update(status=JobStatus.RUNNING, progress=0, error="", started_at=timezone.now(), finished_at=None)
    )
    if not claimed:
        raise Conflict(f"Modelfile {modelfile_id} is busy: a push or a validation of it is running.")
    return modelfile_get(modelfile_id=modelfile_id)


def modelfile_job_finish(modelfile: Modelfile, *, error: str = "", **fields: Any) -> None:
    """Store the job's outcome (done, or failed with `error`) with `fields` on the row."""
    fields |= {
        "status": JobStatus.FAILED if error else JobStatus.DONE,
        "error": error[:5000],
        "finished_at": timezone.now(),
        **({} if error else {"progress": 100}),
    }
    for key, value in fields.items():
        setattr(modelfile, key, value)
    modelfile.save(update_fields=list(fields))


def modelfile_progress_saver(modelfile: Modelfile, low: int, high: int) -> Callable[[int, int], None]:
    """Store the job's progress on the row, mapped to [low, high] percent, at most once per percent."""
    last = [low]

    def save(done: int, total: int) -> None:
        percent = low + (high - low) * min(done, total) // total
        if percent > last[0]:
            last[0] = percent
            Modelfile.objects.filter(pk=modelfile.pk).update(progress=percent)

    return save


def queue_push_job(modelfile: Modelfile, *, then_validate: bool) -> None:
    """Mark the row pending and queue its push for when the caller's transaction commits."""
    from ..tasks.modelfiles import modelfile_push_task

    Modelfile.objects.filter(pk=modelfile.pk).update(status=JobStatus.PENDING, progress=0, error="")
    modelfile_push_task.delay_on_commit(modelfile.pk, then_validate)


def queue_validate_job(modelfile: Modelfile) -> None:
    """Mark the row pending and queue its validation for when the caller's transaction commits."""
    from ..tasks.modelfiles import modelfile_validate_task

    Modelfile.objects.filter(pk=modelfile.pk).update(status=JobStatus.PENDING, progress=0, error="")
    modelfile_validate_task.delay_on_commit(modelfile.pk)


def _queue_job(modelfile_id: int, queue: Callable[[Modelfile], None]) -> Modelfile:
    modelfile = modelfile_get(modelfile_id=modelfile_id)
    if modelfile.status == JobStatus.RUNNING and modelfile.started_at and modelfile.started_at >= _stale_before():
        raise Conflict(f"Modelfile {modelfile.pk} is busy: a push or a validation of it is running.")
    ollama_server_require()  # say so now, not in a worker's log
    with transaction.atomic():
        queue(modelfile)
    return modelfile_get(modelfile_id=modelfile_id)


def modelfile_push_queue(*, modelfile_id: int, then_validate: bool = False) -> Modelfile:
    """Queue a push (and then a validation) for a worker, once the caller's transaction commits."""
    return _queue_job(modelfile_id, lambda modelfile: queue_push_job(modelfile, then_validate=then_validate))


def modelfile_validate_queue(*, modelfile_id: int) -> Modelfile:
    return _queue_job(modelfile_id, queue_validate_job)


def modelfile_job_fail(*, modelfile_id: int, error: str) -> None:
    """Record a final failure (the task gave up), so the row never stays 'running' or 'pending' for ever."""
    Modelfile.objects.filter(pk=modelfile_id).exclude(status=JobStatus.DONE).update(
        status=JobStatus.FAILED, error=error[:5000], finished_at=timezone.now()
    )
