"""One lifecycle for every background job whose state is a row (a grade, an export, a fine-tune run, a
comparison, a Modelfile push or validation): dispatched from the committed row, claimed, heartbeating,
reporting progress, finished, failed, cancelled, and swept when its worker died.

- **Dispatch (an outbox)**: a service queues a job with `job_dispatch_on_commit`; the row records in
  `dispatched_at` whether the broker took the task. A broker error is logged, not raised: the sweeper sends
  what was never dispatched, so a request that stored a job still answers with its id.
- **Claim**: one conditional UPDATE moves the row to running and counts the attempt (`job_attempts`); the
  attempt number fences the claim: a worker whose row was taken back (stale, cancelled) can no longer write it.
- **Heartbeat**: while a job runs, one thread per process stamps `heartbeat_at` on every job it runs; each
  `JobClaim.progress` also stamps it and notices a cancellation (`JobLost`).
- **Sweeper** (`jobs_sweep`, Celery beat every minute): a running job whose heartbeat is older than its
  kind's `stale_after`, or that ran past `max_runtime`, is handed back and dispatched again, or failed with
  the reason after `max_attempts`; a pending job never dispatched (or dispatched and never claimed for
  `max_runtime`) is dispatched.

Each kind of job declares its limits (`JobKind`); `JOB_LIMITS` (settings, seconds) overrides them by kind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules, import_string

from .errors import Conflict

logger = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
# A pending row younger than this is left to the request that created it, whose dispatch runs on commit.
DISPATCH_GRACE = timedelta(seconds=10)
ERROR_LIMIT = 5000


class JobLost(Exception):
    """The row is no longer this worker's to write: it was cancelled, or the sweeper took it back."""


@dataclass(frozen=True)
class JobLimits:
    max_runtime: float  # seconds a job may run, heartbeat or not
    stale_after: float  # seconds a running job's heartbeat may age before its worker counts as dead
    max_attempts: int = 3

    @property
    def heartbeat_every(self) -> float:
        return max(self.stale_after / 3, 0.2)


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its row's model, the task that runs one, its limits, and how to clean up after it.

    `task` is the Celery task's name, or a function of the row giving it (a row with more than one job);
    `task_args(row)` gives its arguments (default: the row's id); `cleanup(row)` removes partial output before
    a restart, and after a final failure or a cancellation.
    """

    name: str
    model: str  # "app_label.ModelName", resolved lazily so this module imports no app
    task: str | Callable[[Model], str]
    limits: Callable[[], JobLimits]
    claimable: tuple[str, ...] = (PENDING,)
    task_args: Callable[[Model], tuple] = field(default=lambda row: (row.pk,))
    cleanup: Callable[[Model], None] | None = None

    def __post_init__(self) -> None:
        JOB_KINDS[self.name] = self

    @property
    def objects(self) -> QuerySet:
        return apps.get_model(self.model).objects.all()

    def current_limits(self) -> JobLimits:
        declared = self.limits()
        override = (getattr(settings, "JOB_LIMITS", None) or {}).get(self.name) or {}
        return JobLimits(
            max_runtime=float(override.get("max_runtime", declared.max_runtime)),
            stale_after=float(override.get("stale_after", declared.stale_after)),
            max_attempts=int(override.get("max_attempts", declared.max_attempts)),
        )

    def clean(self, row: Model) -> None:
        if self.cleanup is None:
            return
        try:
            self.cleanup(row)
        except OSError:
            logger.exception("cleaning up after %s job %s failed", self.name, row.pk)


JOB_KINDS: dict[str, JobKind] = {}


# --- dispatch -----------------------------------------------------------------------------------------------


def _celery_app():
    from .celery import app

    return app


def job_dispatch(kind: JobKind, pk: int) -> bool:
    """Send the job's task to the broker and record it; False (logged) when the broker did not take it."""
    app = _celery_app()
    row = kind.objects.filter(pk=pk).first()
    if row is None:
        return False
    # Imported by its dotted name (Celery names a task after its module): the web process has not imported
    # the tasks modules, which only a worker autodiscovers.
    task = import_string(kind.task(row) if callable(kind.task) else kind.task)
    if app.conf.task_always_eager:
        # No broker: the task runs here and now, and its errors reach the caller as they always did.
        kind.objects.filter(pk=pk).update(dispatched_at=timezone.now())
        task.apply_async(args=kind.task_args(row))
        return True
    try:
        task.apply_async(args=kind.task_args(row))
    except Exception:  # kombu and redis raise many transport errors; the sweeper sends the row later
        logger.warning("%s job %s not dispatched (broker unavailable); the sweeper will send it", kind.name, pk)
        return False
    kind.objects.filter(pk=pk).update(dispatched_at=timezone.now())
    return True


def job_dispatch_on_commit(kind: JobKind, pk: int) -> None:
    """Dispatch once the caller's transaction commits: a worker never sees a row that is not there yet."""
    transaction.on_commit(lambda: job_dispatch(kind, pk))


# --- the running job ---------------------------------------------------------------------------------------


class _Heartbeats:
    """One daemon thread per process stamping `heartbeat_at` on each job this process runs, every
    `heartbeat_every` of its kind: a job deep in one long call (an LLM grade, a GGUF conversion) still
    counts as alive, and a job whose process died stops being stamped within one interval."""

    def __init__(self) -> None:
        self._jobs: dict[tuple[str, int], tuple[int, float]] = {}  # (kind, pk) -> (attempt, next beat)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, kind: JobKind, pk: int, attempt: int) -> None:
        with self._lock:
            self._jobs[(kind.name, pk)] = (attempt, time.monotonic() + kind.current_limits().heartbeat_every)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="job-heartbeats", daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, kind: JobKind, pk: int) -> None:
        with self._lock:
            self._jobs.pop((kind.name, pk), None)

    def _due(self) -> tuple[list[tuple[str, int, int]], float]:
        now, due, wait = time.monotonic(), [], 5.0
        with self._lock:
            for (name, pk), (attempt, at) in self._jobs.items():
                if at <= now:
                    due.append((name, pk, attempt))
                    at = now + JOB_KINDS[name].current_limits().heartbeat_every
                    self._jobs[(name, pk)] = (attempt, at)
                wait = min(wait, at - now)
        return due, max(wait, 0.05)

    def _run(self) -> None:
        while True:
            due, wait = self._due()
            for name, pk, attempt in due:
                try:
                    _owned(JOB_KINDS[name], pk, attempt).update(heartbeat_at=timezone.now())
                except Exception:  # a database outage: the next beat tries again on a new connection
                    logger.warning("heartbeat of %s job %s failed", name, pk, exc_info=True)
                    connection.close()
            self._wake.wait(wait)
            self._wake.clear()


_heartbeats = _Heartbeats()


def _stale(before: datetime) -> Q:
    """Running rows whose last sign of life (the heartbeat, else the start: rows from before heartbeats) is
    older than `before`."""
    return Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True) & (
        Q(started_at__lt=before) | Q(started_at__isnull=True)
    )


def _owned(kind: JobKind, pk: int, attempt: int) -> QuerySet:
    return kind.objects.filter(pk=pk, status=RUNNING, job_attempts=attempt)


@dataclass
class JobClaim:
    """A job this worker claimed: every write goes through here, fenced by the attempt number. Used as a
    context manager, the process's heartbeat thread stamps the row while the block runs."""

    kind: JobKind
    row: Any
    attempt: int

    def progress(self, percent: int | None = None, **fields: Any) -> None:
        """Stamp the heartbeat (and `percent`, `fields`); JobLost when the row is no longer ours to write."""
        values: dict[str, Any] = {"heartbeat_at": timezone.now(), **fields}
        if percent is not None:
            values["progress"] = percent
            self.row.progress = percent
        if not _owned(self.kind, self.row.pk, self.attempt).update(**values):
            raise JobLost(f"{self.kind.name} job {self.row.pk} was cancelled or taken back")

    def save(self, *names: str, **fields: Any) -> None:
        """Write the row's attributes `names` and `fields` while still ours (JobLost otherwise)."""
        values = {name: getattr(self.row, name) for name in names} | fields
        for key, value in fields.items():
            setattr(self.row, key, value)
        self.progress(**values)

    def done(self, *names: str, **fields: Any) -> None:
        """Store the outcome, with the row's attributes `names` and `fields`; JobLost when no longer ours."""
        extra = {"progress": 100} if hasattr(self.row, "progress") else {}
        self.save(*names, status=DONE, error="", finished_at=timezone.now(), **extra, **fields)

    def fail(self, error: str, **fields: Any) -> None:
        """Record a failure while still ours; a cancelled or taken-back row is left as it stands."""
        try:
            self.save(status=FAILED, error=error[:ERROR_LIMIT], finished_at=timezone.now(), **fields)
        except JobLost:
            return

    def release(self) -> None:
        """Hand the row back to pending after a database error, on a new connection since the old one may be
        broken (undispatched: the sweeper sends it again, unless a task retry claims it first); when even that
        fails, the heartbeat stops and the sweeper takes the row back once it is stale."""
        _heartbeats.remove(self.kind, self.row.pk)
        if not connection.in_atomic_block:
            connection.close()
        try:
            with transaction.atomic():
                _owned(self.kind, self.row.pk, self.attempt).update(
                    status=PENDING, heartbeat_at=None, dispatched_at=None
                )
        except DatabaseError:
            logger.warning("%s job %s could not be handed back; the sweeper will", self.kind.name, self.row.pk)
            if not connection.in_atomic_block:
                connection.close()

    def __enter__(self) -> JobClaim:
        job_heartbeat_start(self.kind, self.row)
        return self

    def __exit__(self, *exc_info: object) -> None:
        job_heartbeat_stop(self.kind, self.row.pk)


def job_heartbeat_start(kind: JobKind, row: Model) -> None:
    """Have this process's heartbeat thread stamp the claimed `row` until `job_heartbeat_stop` (or until it is
    no longer running at this attempt: a forgotten stop then writes nothing)."""
    _heartbeats.add(kind, row.pk, row.job_attempts)


def job_heartbeat_stop(kind: JobKind, pk: int) -> None:
    _heartbeats.remove(kind, pk)


def job_claim(kind: JobKind, pk: int, **reset: Any) -> JobClaim | None:
    """Move the job to running (with `reset` applied) when it is claimable, or running with a stale heartbeat
    and attempts left; None when it is finished or another worker has it. A restart (attempt > 1) first
    removes what the earlier attempt left behind."""
    limits = kind.current_limits()
    now = timezone.now()
    rows = kind.objects.filter(pk=pk)
    fields = {
        "status": RUNNING,
        "started_at": now,
        "heartbeat_at": now,
        "finished_at": None,
        "job_attempts": F("job_attempts") + 1,
        **reset,
    }
    stale = _stale(now - timedelta(seconds=limits.stale_after))
    claimed = rows.filter(status__in=kind.claimable).update(**fields) or rows.filter(
        stale, status=RUNNING, job_attempts__lt=limits.max_attempts
    ).update(**fields)
    if not claimed:
        return None
    row = rows.get()
    if row.job_attempts > 1:
        kind.clean(row)
    return JobClaim(kind=kind, row=row, attempt=row.job_attempts)


def job_start_claimed(kind: JobKind, row: Model) -> JobClaim:
    """The claim of a row its service created already running (a grade answered in the request)."""
    return JobClaim(kind=kind, row=row, attempt=row.job_attempts)


def job_fail(kind: JobKind, pk: int, *, error: str) -> None:
    """Record a final failure (a task gave up), so the row never stays pending or running for ever; a failed
    row gets this last word as its error."""
    job_heartbeat_stop(kind, pk)
    rows = kind.objects.filter(pk=pk).exclude(status__in=(DONE, CANCELLED))
    if rows.update(status=FAILED, error=error[:ERROR_LIMIT], finished_at=timezone.now()):
        kind.clean(kind.objects.get(pk=pk))


def job_cancel(kind: JobKind, pk: int, *, reason: str = "cancelled") -> Model:
    """Cancel a pending or running job. A pending one is cleaned up here; a running one stops, and cleans
    up, at its next heartbeat or progress. Conflict when it has already finished."""
    now = timezone.now()
    fields = {"status": CANCELLED, "error": reason[:ERROR_LIMIT], "finished_at": now}
    was_pending = kind.objects.filter(pk=pk, status=PENDING).update(**fields)
    if not was_pending and not kind.objects.filter(pk=pk, status=RUNNING).update(**fields):
        row = kind.objects.get(pk=pk)
        raise Conflict(f"{kind.name.replace('_', ' ').capitalize()} {pk} is {row.status}: nothing to cancel.")
    row = kind.objects.get(pk=pk)
    if was_pending:
        kind.clean(row)
    return row


# --- the sweeper -------------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dispatched: list[int] = field(default_factory=list)


def _take_back(kind: JobKind, limits: JobLimits, now: datetime, report: SweepReport) -> None:
    stale_before = now - timedelta(seconds=limits.stale_after)
    too_long = now - timedelta(seconds=limits.max_runtime)
    stale = kind.objects.filter(status=RUNNING).filter(_stale(stale_before) | Q(started_at__lt=too_long))
    for row in stale.only("pk", "job_attempts", "heartbeat_at", "started_at"):
        last_sign = row.heartbeat_at or row.started_at
        if last_sign is None or last_sign < stale_before:
            reason = f"its worker stopped answering (no heartbeat for {limits.stale_after:.0f} s)"
        else:
            reason = f"ran longer than its limit of {limits.max_runtime:.0f} s"
        owned = _owned(kind, row.pk, row.job_attempts)
        if row.job_attempts >= limits.max_attempts:
            error = f"gave up after {row.job_attempts} attempts: {reason}"
            if owned.update(status=FAILED, error=error, finished_at=now):
                kind.clean(kind.objects.get(pk=row.pk))
                report.failed.append(row.pk)
        elif owned.update(status=PENDING, heartbeat_at=None, dispatched_at=None):
            logger.warning("%s job %s taken back: %s", kind.name, row.pk, reason)
            report.requeued.append(row.pk)


def jobs_sweep() -> dict[str, SweepReport]:
    """Take back the running jobs whose worker died, and dispatch the pending ones no worker will get
    otherwise; each kind by its own limits."""
    autodiscover_modules("tasks")  # every app's tasks module declares its kinds through its services
    now = timezone.now()
    reports = {}
    for kind in JOB_KINDS.values():
        limits, report = kind.current_limits(), SweepReport()
        _take_back(kind, limits, now, report)
        lost = now - timedelta(seconds=limits.max_runtime)
        waiting = kind.objects.filter(status=PENDING).filter(
            Q(dispatched_at__isnull=True, created_at__lt=now - DISPATCH_GRACE)
            | Q(pk__in=report.requeued, dispatched_at__isnull=True)
            | Q(dispatched_at__lt=lost)  # sent, never claimed: the message was lost with a worker
        )
        for pk in waiting.values_list("pk", flat=True):
            if job_dispatch(kind, pk):
                report.dispatched.append(pk)
        reports[kind.name] = report
    return reports
