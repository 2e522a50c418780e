"""Dataset export services: submit an export, run it on a worker, record a failure, export when due.

Each export is a versioned, seeded, stratified train/validation split in the formats trainers read. The
work lives in training/exports/: `plan` decides the split on ids alone, `writer` streams the files. These
services hold the row's lifecycle (validation, version number, claim, progress, done or failed).
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import ProtectedError

from evaluation.choices import PROMPT_VARIANTS, PromptVariant
from evaluation.llm.schema import PROMPT_VERSION
from ready4hire.errors import Conflict, DomainError, InvalidInput
from ready4hire.jobs import (
    JobClaim,
    JobKind,
    JobLimits,
    JobLost,
    job_cancel,
    job_claim,
    job_dispatch_on_commit,
    job_fail,
)

from ..exports.filters import ExportFilters
from ..exports.plan import export_plan
from ..exports.warnings import export_warnings
from ..exports.writer import export_directory, export_files_write, export_partial_files_remove
from ..formats import FORMATS
from ..models import DatasetExport, JobStatus
from ..selectors.exports import (
    approved_examples_since,
    dataset_export_get,
    dataset_export_last,
    export_examples,
    export_left_out,
    export_plan_rows,
    preference_filters,
)
from .numbering import versioned_create

logger = logging.getLogger(__name__)

SEED_RANGE = (-(2**31), 2**31 - 1)  # what the IntegerField column holds on every database
NAME_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
PLAN_PROGRESS = 5  # percent reached once the plan is made; writing fills the rest up to 99


EXPORT_JOB = JobKind(
    name="dataset_export",
    model="training.DatasetExport",
    task="training.tasks.exports.export_dataset_task",
    limits=lambda: JobLimits(max_runtime=settings.DATASET_EXPORT_STALE_MINUTES * 60, stale_after=300),
    # A restarted, failed or cancelled export starts from nothing: no `.part` file of an earlier attempt stays.
    cleanup=export_partial_files_remove,
)


def _export(export: DatasetExport, claim: JobClaim) -> None:
    filters = ExportFilters.from_json(export.filters)
    plan = export_plan(
        rows=export_plan_rows(filters=filters, chunk_size=settings.DATASET_EXPORT_CHUNK_SIZE),
        train_share=export.train_share,
        seed=export.seed,
        balance_categories=export.balance_categories,
    )
    claim.progress(PLAN_PROGRESS)
    reported = PLAN_PROGRESS

    def on_written(done: int) -> None:
        nonlocal reported
        percent = PLAN_PROGRESS + (99 - PLAN_PROGRESS) * done // max(plan.kept, 1)
        if percent > reported:  # one row update per percent, not per chunk
            reported = percent
            claim.progress(percent)  # JobLost when cancelled: the writer removes its temporary files

    export_files_write(export=export, plan=plan, filters=filters, on_written=on_written)
    export.warnings = export_warnings(
        filters=filters, counts=export.counts, left_out=lambda: export_left_out(filters=filters)
    )


def _validate(*, name: str, fmt: str, train_share: float, seed: int, prompt_variant: str) -> None:
    if not NAME_PATTERN.match(name or "") or len(name) > 100:
        raise InvalidInput("name must be 1-100 letters, digits, hyphens or underscores.", field="name")
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.", field="format")
    if prompt_variant not in PROMPT_VARIANTS:
        raise InvalidInput(
            f"Unknown prompt variant {prompt_variant!r}; choose one of {', '.join(PROMPT_VARIANTS)}.",
            field="prompt_variant",
        )
    if not 0 < train_share < 1:
        raise InvalidInput(
            f"train_share must be between 0 and 1, both excluded (got {train_share}).", field="train_share"
        )
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise InvalidInput(f"seed must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}.", field="seed")


def _create(**fields: Any) -> DatasetExport:
    """The next version of the name (1, 2, …), never one an earlier export (even a deleted one) had."""
    return versioned_create(DatasetExport, series={"name": fields.pop("name")}, **fields)


def dataset_export_submit(
    *,
    name: str = "ready4hire",
    fmt: str = DatasetExport.Format.MESSAGES,
    filters: ExportFilters | None = None,
    train_share: float = 0.8,
    seed: int = 42,
    balance_categories: bool = False,
    prompt_variant: str = PromptVariant.FULL,
    requested_by=None,
    requested_by_key=None,
    scheduled: bool = False,
    wait: bool = False,
) -> DatasetExport:
    """Create the next version of export `name` and write it now (`wait`) or on a worker after commit.

    `prompt_variant` is the system prompt every row carries: full (rubric and schema), or compact, for a
    grader that is then served the compact prompt (its versions record the variant). An empty selection is
    refused here, before any row or file exists.
    """
    _validate(name=name, fmt=fmt, train_share=train_share, seed=seed, prompt_variant=prompt_variant)
    filters = preference_filters(fmt, filters or ExportFilters())
    if not export_examples(filters=filters).exists():
        if filters.corrected_only:
            raise InvalidInput(
                f"No corrected examples match the filters ({filters.describe()}): a preference export is made of "
                "reviewer corrections (the human's grade chosen over the machine's), and there are none yet.",
                field="format",
            )
        raise InvalidInput(f"No examples match the filters ({filters.describe()}): nothing to export.", field="filters")
    export = _create(
        name=name,
        format=fmt,
        filters=filters.to_json(),
        train_share=train_share,
        seed=seed,
        balance_categories=balance_categories,
        prompt_version=PROMPT_VERSION,
        prompt_variant=prompt_variant,
        requested_by=requested_by,
        requested_by_key=requested_by_key,
        scheduled=scheduled,
    )
    if wait:
        return dataset_export_run(export_id=export.pk)
    job_dispatch_on_commit(EXPORT_JOB, export.pk)
    return export


def dataset_export_run(*, export_id: int) -> DatasetExport:
    """Write a submitted export. Safe to call twice: a finished export, or one another worker is writing,
    is returned as it is. A domain failure (nothing left to export, an invalid label) is recorded on the
    row and returned; any other error is recorded and raised. A cancelled export stops at its next progress,
    its files removed."""
    claim = job_claim(EXPORT_JOB, export_id, progress=0, error="")
    if claim is None:
        return dataset_export_get(export_id=export_id)
    export = claim.row
    try:
        with claim:
            _export(export, claim)
            claim.done("prompt_version", "train_count", "val_count", "counts", "files", "warnings")
    except JobLost:
        export_partial_files_remove(export)  # cancelled, or taken back after its files were in place
        return dataset_export_get(export_id=export_id)
    except (OperationalError, InterfaceError):
        claim.release()  # a database hiccup: the task's retry, or the sweeper, claims it again
        raise
    except DomainError as exc:
        claim.fail(str(exc))
        return dataset_export_get(export_id=export_id)
    except Exception as exc:
        logger.exception("dataset export %s failed", export_id)
        claim.fail(f"{type(exc).__name__}: {exc}")
        raise
    return export


def dataset_export_fail(*, export_id: int, error: str) -> DatasetExport:
    """Record that an export failed, with why (a task that gave up); its partial files are removed."""
    job_fail(EXPORT_JOB, export_id, error=error)
    return dataset_export_get(export_id=export_id)


def dataset_export_cancel(*, export_id: int) -> DatasetExport:
    """Cancel a pending or running export (Conflict once it finished); a running one stops at its next
    progress and removes its temporary files."""
    dataset_export_get(export_id=export_id)  # NotFound first
    return job_cancel(EXPORT_JOB, export_id)


def _files_remove(export: DatasetExport) -> None:
    """Its version directory (its alone: numbers are never reused) and any file it lists under MEDIA_ROOT."""
    media_root = Path(settings.MEDIA_ROOT).resolve()
    for entry in export.files.values():
        path = (media_root / entry["path"]).resolve()
        if path.is_relative_to(media_root):
            path.unlink(missing_ok=True)
    shutil.rmtree(export_directory(export), ignore_errors=True)


def dataset_export_delete(*, export_id: int) -> None:
    """Delete an export and its files. Conflict while it is being written (cancel it first) or while a
    fine-tune run was trained on it; its version number is never given to another export."""
    with transaction.atomic():
        export = dataset_export_get(export_id=export_id)
        if export.status in (JobStatus.PENDING, JobStatus.RUNNING):
            raise Conflict(f"Dataset export {export} is {export.status}: cancel it before deleting it.")
        try:
            export.delete()
        except ProtectedError as exc:  # fine-tune runs keep their training set (on_delete=PROTECT)
            runs = ", ".join(sorted(str(run.pk) for run in exc.protected_objects))
            raise Conflict(
                f"Dataset export {export} is the training set of fine-tune run(s) {runs}: it is kept so they can "
                "be reproduced."
            ) from None
        transaction.on_commit(lambda: _files_remove(export))


def dataset_export_if_due(
    *, name: str | None = None, fmt: str | None = None, min_new: int | None = None
) -> DatasetExport | None:
    """The periodic export: export `name` when at least `min_new` curated examples were approved since its
    last export (pending, running or done); otherwise do nothing and return None."""
    name = name or settings.DATASET_EXPORT_NAME
    min_new = settings.DATASET_EXPORT_MIN_NEW_EXAMPLES if min_new is None else min_new
    last = dataset_export_last(name=name)
    if last is not None and last.status in (JobStatus.PENDING, JobStatus.RUNNING):
        return None  # one is already on its way (the sweeper sees that it ends, done or failed)
    filters = ExportFilters()
    new = approved_examples_since(filters=filters, since=last.created_at if last else None)
    if new < max(min_new, 1):
        return None
    return dataset_export_submit(
        name=name, fmt=fmt or settings.DATASET_EXPORT_FORMAT, filters=filters, scheduled=True, wait=True
    )
