"""What every long job (export, fine-tune run, comparison) shares: claiming its row before working on it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from ..models import JobStatus


def job_claim(
    jobs: QuerySet,
    *,
    stale_after: timedelta,
    claimable: Iterable[str] = (JobStatus.PENDING,),
    **reset: Any,
) -> bool:
    """Move the job in `jobs` (a queryset of one row) to running, with `reset` applied, if it is claimable
    or was abandoned running for longer than `stale_after` by a worker that died.

    One conditional UPDATE each, so two workers can never both claim the same job; False when it is done,
    or another worker has it.
    """
    now = timezone.now()
    fields = {"status": JobStatus.RUNNING, "started_at": now, **reset}
    return bool(
        jobs.filter(status__in=list(claimable)).update(**fields)
        or jobs.filter(status=JobStatus.RUNNING, started_at__lt=now - stale_after).update(**fields)
    )
