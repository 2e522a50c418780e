"""Modelfile tasks: push to the Ollama server and validate the pushed model, on the `exports` queue: their long
uploads and probe grades stay off the grading workers. Acknowledged on receipt, like every long job: the
heartbeat and the sweeper (ready4hire/jobs.py) take over from a worker that died."""

from __future__ import annotations

from celery import shared_task

from ready4hire.errors import DomainError
from ready4hire.tasks import JobTask

from ..services.modelfile_jobs import modelfile_job_fail
from ..services.modelfile_push import modelfile_push
from ..services.modelfile_validation import modelfile_validate
from ..services.ollama_models import OllamaUnavailable

RETRY_BACKOFF_SECONDS = 30
RETRY_BACKOFF_MAX_SECONDS = 600


def _retry_or_fail(task, modelfile_id: int, exc: OllamaUnavailable) -> None:
    """Retry a server that did not answer, with exponential backoff; after the last try, record the failure.

    The client has already retried each request (transport errors, 5xx) within seconds; these retries wait
    minutes, for a server that is restarting or still pulling. Without a broker (eager mode) a retry would run
    again at once inside the caller's request, so the failure the service recorded stands.
    """
    retries = task.request.retries
    if task.request.is_eager or retries >= task.max_retries:
        modelfile_job_fail(modelfile_id=modelfile_id, error=f"gave up after {retries + 1} attempts: {exc}")
        return
    countdown = min(RETRY_BACKOFF_SECONDS * 2**retries, RETRY_BACKOFF_MAX_SECONDS)
    raise task.retry(exc=exc, countdown=countdown)


@shared_task(
    base=JobTask, bind=True, queue_name="exports", acks_late=False, fail_with=modelfile_job_fail, max_retries=5
)
def modelfile_push_task(self, modelfile_id: int, then_validate: bool = False) -> None:
    """Push one Modelfile (then queue its validation). Refusals are recorded on the row by the service and not
    retried: the same request would be refused again."""
    try:
        modelfile_push(modelfile_id=modelfile_id, then_validate=then_validate)
    except OllamaUnavailable as exc:
        _retry_or_fail(self, modelfile_id, exc)
    except DomainError:
        return


@shared_task(
    base=JobTask, bind=True, queue_name="exports", acks_late=False, fail_with=modelfile_job_fail, max_retries=5
)
def modelfile_validate_task(self, modelfile_id: int) -> None:
    """Grade the probe set with the Modelfile's model and store the report on the row."""
    try:
        modelfile_validate(modelfile_id=modelfile_id)
    except OllamaUnavailable as exc:
        _retry_or_fail(self, modelfile_id, exc)
    except DomainError:
        return
