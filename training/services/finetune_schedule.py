"""Retraining on schedule: a fine-tune run like the last one, started when the newest export has enough new
examples (beat's `finetune_if_due_task`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..models import DatasetExport, FineTuneRun, JobStatus
from .finetune import finetune_run_create


@dataclass(frozen=True)
class FinetuneDue:
    """Whether a scheduled retraining should start now, and why (or why not)."""

    due: bool
    reason: str
    export: DatasetExport | None = None
    last_run: FineTuneRun | None = None
    run: FineTuneRun | None = None  # the run started, by finetune_retrain_if_due


def _example_count(export: DatasetExport) -> int:
    return export.train_count + export.val_count


def finetune_due_check(*, min_new_examples: int) -> FinetuneDue:
    """Due when the newest finished export holds at least `min_new_examples` more examples than the export
    of the last fine-tune run (the original's "re-train every 500–1000 evaluations").

    Never due while a run is pending or running, nor before a first run: a retraining repeats the last
    run's configuration on the new data, and the first configuration is a person's choice. The last run
    counts even when it failed, so a failing configuration is not retried on the same data every day.
    """
    export = DatasetExport.objects.filter(status=JobStatus.DONE).order_by("-created_at", "-pk").first()
    if export is None:
        return FinetuneDue(False, "no finished dataset export yet")
    if FineTuneRun.objects.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).exists():
        return FinetuneDue(False, "a fine-tune run is already pending or running", export=export)
    last_run = FineTuneRun.objects.select_related("dataset_export").order_by("-created_at", "-pk").first()
    if last_run is None:
        return FinetuneDue(False, "no earlier fine-tune run to repeat: start the first one by hand", export=export)
    if last_run.dataset_export_id == export.pk:
        return FinetuneDue(False, f"the last run already trained on export {export}", export, last_run)
    new = _example_count(export) - _example_count(last_run.dataset_export)
    if new < min_new_examples:
        return FinetuneDue(
            False,
            f"export {export} has {new} more examples than the last run's; {min_new_examples} needed",
            export,
            last_run,
        )
    return FinetuneDue(True, f"export {export} has {new} more examples than the last run's", export, last_run)


def finetune_retrain_if_due(*, min_new_examples: int) -> FinetuneDue:
    """When `finetune_due_check` says so, start a run like the last one (base, method, hyper-parameters) on
    the newest export, queued on the training queue once committed."""
    due = finetune_due_check(min_new_examples=min_new_examples)
    if not due.due:
        return due
    last = due.last_run
    run = finetune_run_create(
        dataset_export_id=due.export.pk,
        base_model="" if last.init_tiny else last.base_model,
        init_tiny=last.init_tiny,
        method=last.method,
        hyperparameters=last.hyperparameters,
        enqueue=True,
    )
    return replace(due, run=run, reason=f"{due.reason}: started fine-tune run #{run.pk}")
