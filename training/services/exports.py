"""Dataset export services: submit an export, run it on a worker, record a failure, export when due.

Each export is a versioned, seeded, stratified train/validation split in the formats trainers read. The
work lives in training/exports/: `plan` decides the split on ids alone, `writer` streams the files. These
services hold the row's lifecycle (validation, version number, claim, progress, done or failed).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Max
from django.utils import timezone

from evaluation.llm.schema import PROMPT_VERSION
from ready4hire.errors import DomainError, InvalidInput

from ..exports.filters import ExportFilters
from ..exports.plan import export_plan
from ..exports.writer import export_files_write
from ..formats import FORMATS
from ..models import DatasetExport, JobStatus
from ..selectors.exports import (
    approved_examples_since,
    dataset_export_get,
    dataset_export_last,
    export_examples,
    export_plan_rows,
)
from .jobs import job_claim

logger = logging.getLogger(__name__)

SEED_RANGE = (-(2**31), 2**31 - 1)  # what the IntegerField column holds on every database
NAME_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
PLAN_PROGRESS = 5  # percent reached once the plan is made; writing fills the rest up to 99


def _export(export: DatasetExport) -> None:
    filters = ExportFilters.from_json(export.filters)
    plan = export_plan(
        rows=export_plan_rows(filters=filters, chunk_size=settings.DATASET_EXPORT_CHUNK_SIZE),
        train_share=export.train_share,
        seed=export.seed,
        balance_categories=export.balance_categories,
    )
    _progress(export, PLAN_PROGRESS)
    reported = PLAN_PROGRESS

    def on_written(done: int) -> None:
        nonlocal reported
        percent = PLAN_PROGRESS + (99 - PLAN_PROGRESS) * done // max(plan.kept, 1)
        if percent > reported:  # one row update per percent, not per chunk
            reported = percent
            _progress(export, percent)

    export_files_write(export=export, plan=plan, filters=filters, on_written=on_written)


def _progress(export: DatasetExport, percent: int) -> None:
    export.progress = percent
    export.save(update_fields=["progress"])


def _validate(*, name: str, fmt: str, train_share: float, seed: int) -> None:
    if not NAME_PATTERN.match(name or "") or len(name) > 100:
        raise InvalidInput("name must be 1-100 letters, digits, hyphens or underscores.", field="name")
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.", field="format")
    if not 0 < train_share < 1:
        raise InvalidInput(
            f"train_share must be between 0 and 1, both excluded (got {train_share}).", field="train_share"
        )
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise InvalidInput(f"seed must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}.", field="seed")


def _create(**fields: Any) -> DatasetExport:
    """The next version of the name (1, 2, …); concurrent exports of one name each get their own number."""
    for _ in range(5):
        try:
            with transaction.atomic():
                latest = DatasetExport.objects.filter(name=fields["name"]).aggregate(latest=Max("version"))["latest"]
                return DatasetExport.objects.create(version=(latest or 0) + 1, **fields)
        except IntegrityError:
            continue  # another export took this number: read the latest again
    raise RuntimeError(f"could not allocate a version number for {fields['name']!r}")


def dataset_export_submit(
    *,
    name: str = "ready4hire",
    fmt: str = DatasetExport.Format.MESSAGES,
    filters: ExportFilters | None = None,
    train_share: float = 0.8,
    seed: int = 42,
    balance_categories: bool = False,
    requested_by=None,
    requested_by_key=None,
    scheduled: bool = False,
    wait: bool = False,
) -> DatasetExport:
    """Create the next version of export `name` and write it now (`wait`) or on a worker after commit.

    An empty selection is refused here, before any row or file exists.
    """
    _validate(name=name, fmt=fmt, train_share=train_share, seed=seed)
    filters = filters or ExportFilters()
    if not export_examples(filters=filters).exists():
        raise InvalidInput(f"No examples match the filters ({filters.describe()}): nothing to export.", field="filters")
    export = _create(
        name=name,
        format=fmt,
        filters=filters.to_json(),
        train_share=train_share,
        seed=seed,
        balance_categories=balance_categories,
        prompt_version=PROMPT_VERSION,
        requested_by=requested_by,
        requested_by_key=requested_by_key,
        scheduled=scheduled,
    )
    if wait:
        return dataset_export_run(export_id=export.pk)
    from ..tasks.exports import export_dataset_task

    export_dataset_task.delay_on_commit(export.pk)
    return export


def _claim(export_id: int) -> DatasetExport | None:
    """Move a pending (or abandoned running) export to running; None when it is done, failed or taken."""
    claimed = job_claim(
        DatasetExport.objects.filter(pk=export_id),
        stale_after=timedelta(minutes=settings.DATASET_EXPORT_STALE_MINUTES),
        progress=0,
        error="",
    )
    return dataset_export_get(export_id=export_id) if claimed else None


def dataset_export_run(*, export_id: int) -> DatasetExport:
    """Write a submitted export. Safe to call twice: a finished export, or one another worker is writing,
    is returned as it is. A domain failure (nothing left to export, an invalid label) is recorded on the
    row and returned; any other error is recorded and raised."""
    export = _claim(export_id)
    if export is None:
        return dataset_export_get(export_id=export_id)
    try:
        _export(export)
    except (OperationalError, InterfaceError):
        # A database hiccup: hand the export back so the task's retry can claim it again.
        DatasetExport.objects.filter(pk=export_id, status=JobStatus.RUNNING).update(status=JobStatus.PENDING)
        raise
    except DomainError as exc:
        return dataset_export_fail(export_id=export_id, error=str(exc))
    except Exception as exc:
        logger.exception("dataset export %s failed", export_id)
        dataset_export_fail(export_id=export_id, error=f"{type(exc).__name__}: {exc}")
        raise
    with transaction.atomic():
        export.status = JobStatus.DONE
        export.progress = 100
        export.error = ""
        export.finished_at = timezone.now()
        export.save(
            update_fields=[
                "status",
                "progress",
                "error",
                "finished_at",
                "prompt_version",
                "train_count",
                "val_count",
                "counts",
                "files",
            ]
        )
    return export


def dataset_export_fail(*, export_id: int, error: str) -> DatasetExport:
    """Record that an export failed, with why; its partial files were already removed."""
    export = dataset_export_get(export_id=export_id)
    export.status = JobStatus.FAILED
    export.error = error
    export.finished_at = timezone.now()
    export.save(update_fields=["status", "error", "finished_at"])
    return export


def dataset_export_if_due(
    *, name: str | None = None, fmt: str | None = None, min_new: int | None = None
) -> DatasetExport | None:
    """The periodic export: export `name` when at least `min_new` curated examples were approved since its
    last export (pending, running or done); otherwise do nothing and return None."""
    name = name or settings.DATASET_EXPORT_NAME
    min_new = settings.DATASET_EXPORT_MIN_NEW_EXAMPLES if min_new is None else min_new
    last = dataset_export_last(name=name)
    if last is not None and last.status != JobStatus.DONE:
        return None  # one is already on its way
    filters = ExportFilters()
    new = approved_examples_since(filters=filters, since=last.created_at if last else None)
    if new < max(min_new, 1):
        return None
    return dataset_export_submit(
        name=name, fmt=fmt or settings.DATASET_EXPORT_FORMAT, filters=filters, scheduled=True, wait=True
    )
