"""The job on a Modelfile row (a push or a validation) in the shared job lifecycle (ready4hire/jobs.py):
queueing it for a worker, claiming the row, storing progress, finishing, and recording a final failure. The
work itself is in `modelfile_push` and `modelfile_validation`; the Celery tasks are in `training.tasks.modelfiles`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ready4hire.errors import Conflict
from ready4hire.jobs import JobKind, JobLimits, JobLost, job_claim, job_dispatch_on_commit, job_fail, job_start_claimed

from ..models import JobStatus, Modelfile
from ..selectors.modelfiles import modelfile_get
from .ollama_models import ollama_server_require

# The job a row has queued (`queued_task`): the task that runs it, and its arguments after the row's id.
_TASKS = {
    "push": ("training.tasks.modelfiles.modelfile_push_task", (False,)),
    "push_validate": ("training.tasks.modelfiles.modelfile_push_task", (True,)),
    "validate": ("training.tasks.modelfiles.modelfile_validate_task", ()),
}


def _limits() -> JobLimits:
    # Creating a model from a multi-gigabyte GGUF is one call of up to OLLAMA_ADMIN_TIMEOUT without progress;
    # uploads and probe grades report progress (the heartbeat) as they go.
    longest = settings.OLLAMA_ADMIN_TIMEOUT * (settings.OLLAMA_ADMIN_MAX_RETRIES + 1)
    return JobLimits(max_runtime=2 * longest + 60, stale_after=settings.OLLAMA_ADMIN_TIMEOUT + 60)


MODELFILE_JOB = JobKind(
    name="modelfile",
    model="training.Modelfile",
    task=lambda row: _TASKS[row.queued_task or "push"][0],
    task_args=lambda row: (row.pk, *_TASKS[row.queued_task or "push"][1]),
    limits=_limits,
    # A Modelfile row is built done; each push or validation claims it again, whatever its last outcome.
    claimable=(JobStatus.PENDING, JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED),
)


def modelfile_job_claim(modelfile_id: int) -> Modelfile:
    """Mark the Modelfile's job running; Conflict while another push or validation of it runs."""
    modelfile_get(modelfile_id=modelfile_id)  # NotFound first
    claim = job_claim(MODELFILE_JOB, modelfile_id, progress=0, error="")
    if claim is None:
        raise Conflict(f"Modelfile {modelfile_id} is busy: a push or a validation of it is running.")
    return claim.row


def modelfile_job_finish(modelfile: Modelfile, *, error: str = "", **fields: Any) -> None:
    """Store the job's outcome (done, or failed with `error`) with `fields` on the row, while the row is still
    this job's (the sweeper may have handed it to another worker)."""
    claim = job_start_claimed(MODELFILE_JOB, modelfile)
    try:
        if error:
            claim.save(status=JobStatus.FAILED, error=error[:5000], finished_at=timezone.now(), **fields)
        else:
            claim.done(**fields)
    except JobLost:
        return


def modelfile_progress_saver(modelfile: Modelfile, low: int, high: int) -> Callable[[int, int], None]:
    """Store the job's progress (and heartbeat) on the row, mapped to [low, high] percent, once per percent."""
    last = [low]
    claim = job_start_claimed(MODELFILE_JOB, modelfile)

    def save(done: int, total: int) -> None:
        percent = low + (high - low) * min(done, total) // total
        if percent > last[0]:
            last[0] = percent
            claim.progress(percent)

    return save


def _queue(modelfile: Modelfile, task: str) -> None:
    Modelfile.objects.filter(pk=modelfile.pk).update(
        status=JobStatus.PENDING, progress=0, error="", queued_task=task, dispatched_at=None
    )
    job_dispatch_on_commit(MODELFILE_JOB, modelfile.pk)


def queue_push_job(modelfile: Modelfile, *, then_validate: bool) -> None:
    """Mark the row pending and queue its push for when the caller's transaction commits."""
    _queue(modelfile, "push_validate" if then_validate else "push")


def queue_validate_job(modelfile: Modelfile) -> None:
    """Mark the row pending and queue its validation for when the caller's transaction commits."""
    _queue(modelfile, "validate")


def _queue_job(modelfile_id: int, queue: Callable[[Modelfile], None]) -> Modelfile:
    modelfile = modelfile_get(modelfile_id=modelfile_id)
    if modelfile.status == JobStatus.RUNNING:
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
    job_fail(MODELFILE_JOB, modelfile_id, error=error)
