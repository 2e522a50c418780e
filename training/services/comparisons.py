"""A/B comparisons: grade human-reviewed examples with two or more models and measure each against the
human scores; the first model is the base the others are judged against (improvement and promotion gate).

Every model gets the live prompt (`build_messages`) once per example and repeat, at LLM_TEMPERATURE with the
seed `comparison seed + repeat`, and no re-ask: a comparison measures what the model itself returns. A
version is sent the system prompt it was trained with (its `prompt_variant`, kept on its contender); a model
that is no version of ours, the full one. What the prompts cost (the server's token counts, else an
estimate) is summed per contender as the grades are recorded (`prompt_usage`), for the report.

This module creates, runs and fails comparisons and reads the recorded grades; one grade of one contender
(client, prompt, parsing, prompt cost) is `services/comparison_grading.py`, and the numbers of the report (and
the rules behind them) are worked out in `training/comparison_report.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import InterfaceError, OperationalError

from evaluation.batch import Outcome, batch_map, concurrency_checked, in_input_order
from evaluation.choices import PromptVariant
from evaluation.models import ApiKey
from ready4hire.errors import DomainError, InvalidInput
from ready4hire.jobs import (
    JobKind,
    JobLimits,
    JobLost,
    job_cancel,
    job_claim,
    job_dispatch_on_commit,
    job_fail,
    job_start_claimed,
)

from ..comparison_report import GateRules, GradedItem, PromptUsage, comparison_report_build
from ..models import ComparisonItem, ComparisonRun, DatasetExport, JobStatus, TrainingExample
from ..selectors.comparisons import comparison_get, export_split_example_ids
from ..selectors.examples import example_list
from ..selectors.versions import model_reference_resolve
from .comparison_grading import Graded, contender_client, failed_item, grade_one, usage_add
from .opinions import example_opinions_from_comparison

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Requester = AbstractBaseUser | ApiKey | None

FILTER_FIELDS = ("category", "difficulty", "role", "language", "source", "min_score", "max_score")
_BATCH = 25  # grades written (and progress reported) per bulk insert


# --- create ---------------------------------------------------------------------------------------------


def _contenders(models: Sequence[tuple[str, str]]) -> list[dict]:
    if len(models) < 2:
        raise InvalidInput(
            "A comparison needs at least two models: the base first, then the candidates.", field="models"
        )
    labels = [label.strip() for label, _ in models]
    if any(not label or len(label) > 100 for label in labels):
        raise InvalidInput("Every model needs a label of 1 to 100 characters.", field="models")
    if len(set(labels)) != len(labels):
        raise InvalidInput("Model labels must be unique.", field="models")
    return [model_reference_resolve(ref=ref).contender(label) for label, (_, ref) in zip(labels, models, strict=True)]


def _example_ids(
    *, export: DatasetExport | None, split: str, filters: dict[str, Any], limit: int | None
) -> tuple[list[int], dict[str, list[int]]]:
    """Human-reviewed (approved) examples: an export's split in the export's order, or those matching filters;
    and the ids left out, by reason (a person reading "77 of 97" must be able to see why)."""
    left_out: dict[str, list[int]] = {}
    if export is not None:
        in_split = export_split_example_ids(export=export, split=split)
        statuses = dict(TrainingExample.objects.filter(pk__in=in_split).values_list("pk", "review_status"))
        ids = []
        for example_id in in_split:
            status = statuses.get(example_id)
            if status == TrainingExample.ReviewStatus.APPROVED:
                ids.append(example_id)
            else:
                reason = "deleted since the export" if status is None else f"no human score: {status}, not approved"
                left_out.setdefault(reason, []).append(example_id)
    else:
        unknown = sorted(set(filters) - set(FILTER_FIELDS))
        if unknown:
            raise InvalidInput(
                f"Unknown example filters: {', '.join(unknown)} (use {', '.join(FILTER_FIELDS)}).", field="filters"
            )
        matching = example_list(review_status=TrainingExample.ReviewStatus.APPROVED, **filters)
        ids = list(matching.order_by("pk").values_list("pk", flat=True))
    if limit and len(ids) > limit:
        left_out[f"beyond the limit of {limit} examples"] = ids[limit:]
        ids = ids[:limit]
    if not ids:
        where = f"the {split!r} split of export {export.pk}" if export is not None else "the filters"
        raise InvalidInput(f"No human-reviewed (approved) examples in {where}: nothing to compare on.")
    return ids, left_out


def comparison_create(
    *,
    models: Sequence[tuple[str, str]],
    dataset_export_id: int | None = None,
    split: str = "val",
    filters: dict[str, Any] | None = None,
    repeats: int = 1,
    limit: int | None = None,
    seed: int | None = None,
    name: str = "",
    requested_by: Requester = None,
    start: bool = True,
) -> ComparisonRun:
    """Check and store a comparison of `models` ([(label, reference)], the base first); with `start`, queue
    it for a worker once committed. The examples are chosen now and kept on the row, so a resumed run
    grades the same set."""
    if not 1 <= repeats <= settings.COMPARISON_MAX_REPEATS:
        raise InvalidInput(f"repeats must be between 1 and {settings.COMPARISON_MAX_REPEATS}.", field="repeats")
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1.", field="limit")
    if dataset_export_id is not None and filters:
        raise InvalidInput("Compare on a dataset export or on example filters, not both.", field="filters")
    contenders = _contenders(models)
    export = None
    if dataset_export_id is not None:
        export = DatasetExport.objects.filter(pk=dataset_export_id).first()
        if export is None:
            raise InvalidInput(f"Dataset export {dataset_export_id} does not exist.", field="dataset_id")
    filters = dict(filters or {})
    ids, left_out = _example_ids(export=export, split=split, filters=filters, limit=limit)
    run = ComparisonRun.objects.create(
        name=name.strip()[:200] or " vs ".join(contender["label"] for contender in contenders),
        dataset_export=export,
        split=split if export is not None else "",
        # Pairs, not a mapping: PostgreSQL's jsonb reorders an object's keys, and the reasons keep their order.
        filters={**filters, "limit": limit, "example_ids": ids, "left_out": [[r, i] for r, i in left_out.items()]},
        contenders=contenders,
        repeats=repeats,
        seed=settings.LLM_SEED if seed is None else seed,
        requested_by=None if isinstance(requested_by, ApiKey) else requested_by,
        requested_by_key=requested_by if isinstance(requested_by, ApiKey) else None,
    )
    if start:
        job_dispatch_on_commit(COMPARISON_JOB, run.pk)
    return run


def comparison_create_and_run(
    *,
    models: Sequence[tuple[str, str]],
    on_progress: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
    **options: Any,
) -> ComparisonRun:
    """Compare now, in this process, and return the finished run (`run.report`): the command's and the
    demo's entry point. Takes `comparison_create`'s options."""
    run = comparison_create(models=models, start=False, **options)
    return comparison_run(comparison_id=run.pk, on_progress=on_progress, concurrency=concurrency)


# --- run ------------------------------------------------------------------------------------------------


COMPARISON_JOB = JobKind(
    name="comparison",
    model="training.ComparisonRun",
    task="training.tasks.comparisons.comparison_run_task",
    limits=lambda: JobLimits(max_runtime=settings.COMPARISON_STALE_MINUTES * 60, stale_after=300),
    # A failed comparison may be started again: it resumes, grading only what is missing.
    claimable=(JobStatus.PENDING, JobStatus.FAILED),
)


def comparison_run(
    *, comparison_id: int, on_progress: Callable[[int, int], None] | None = None, concurrency: int | None = None
) -> ComparisonRun:
    """Grade every example with every model and repeat, then write the report. Safe to run twice: a finished
    comparison is returned as it is, one another worker runs is left alone, and a resumed one grades only
    what is missing. `on_progress(done, total)` follows the grades; `concurrency` grades are kept in flight
    (default LLM_CONCURRENCY). A cancelled comparison stops at its next batch of grades."""
    claim = job_claim(COMPARISON_JOB, comparison_id, error="")
    if claim is None:
        return comparison_get(comparison_id=comparison_id)
    run = claim.row
    try:
        with claim:
            _grade_missing(run, on_progress, concurrency_checked(concurrency))
            report = comparison_report(run=run)
            run.report, run.gate = report, report["gate"]
            claim.done("report", "gate")
    except JobLost:
        return comparison_get(comparison_id=comparison_id)
    except (OperationalError, InterfaceError):
        claim.release()  # a database hiccup: the task's retry, or the sweeper, claims it again
        raise
    except Exception as exc:
        claim.fail(str(exc) if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}")
        raise
    example_opinions_from_comparison(run_id=run.pk)  # each model's scores become opinions for the review queue
    return run


def comparison_fail(*, comparison_id: int, error: str) -> None:
    """Record a final failure, so the row never stays 'running' for ever."""
    job_fail(COMPARISON_JOB, comparison_id, error=error)


def comparison_cancel(*, comparison_id: int) -> ComparisonRun:
    """Cancel a pending or running comparison (Conflict once it finished); a running one stops at its next
    batch of grades, keeping those recorded."""
    comparison_get(comparison_id=comparison_id)  # NotFound first
    return job_cancel(COMPARISON_JOB, comparison_id)


def _grade_missing(run: ComparisonRun, on_progress: Callable[[int, int], None] | None, concurrency: int) -> None:
    ids = run.filters.get("example_ids") or []
    by_id = TrainingExample.objects.in_bulk(ids)
    examples = [by_id[example_id] for example_id in ids if example_id in by_id]  # deleted ones drop out
    if not examples:
        raise InvalidInput("Every example of this comparison has been deleted since it was created.")
    total = len(run.contenders) * len(examples) * run.repeats
    done = set(ComparisonItem.objects.filter(run=run).values_list("model_label", "example_id", "repeat"))
    finished = len(done)

    def record(batch: list[Graded]) -> None:
        nonlocal finished
        ComparisonItem.objects.bulk_create([graded.item for graded in batch], ignore_conflicts=True)
        finished += len(batch)
        usage_add(run, batch)
        # Also the heartbeat, and where a cancellation is noticed (JobLost). The usage is written with the
        # progress, right after its rows, so a resumed run goes on from the sums of the rows it kept.
        job_start_claimed(COMPARISON_JOB, run).progress(
            min(99, finished * 100 // max(total, 1)), contenders=run.contenders
        )
        if on_progress is not None:
            on_progress(finished, total)

    for contender in run.contenders:
        label = contender["label"]
        todo = [
            (example, repeat)
            for example in examples
            for repeat in range(run.repeats)
            if (label, example.pk, repeat) not in done
        ]
        if not todo:
            continue
        with contender_client(contender) as client:
            batch: list[Graded] = []

            def collect(outcome: Outcome[Graded], todo=todo, label=label) -> None:
                # In input order, so the rows land as the sequential run writes them.
                nonlocal batch
                example, repeat = todo[outcome.index]
                batch.append(outcome.value or Graded(failed_item(run, label, example, repeat, outcome.error)))
                if len(batch) == _BATCH:
                    record(batch)
                    batch = []

            batch_map(
                lambda pair, client=client, label=label: grade_one(run, client, label, *pair),
                todo,
                concurrency=concurrency,
                on_done=in_input_order(collect),
            )
            if batch:
                record(batch)


# --- report ---------------------------------------------------------------------------------------------


def _graded_items(run: ComparisonRun) -> dict[str, list[GradedItem]]:
    labels = {
        example_id: label
        for example_id, label in TrainingExample.objects.filter(
            pk__in=run.filters.get("example_ids") or []
        ).values_list("pk", "label")
    }
    grades: dict[str, list[GradedItem]] = {contender["label"]: [] for contender in run.contenders}
    rows = ComparisonItem.objects.filter(run=run, example__isnull=False).values_list(
        "model_label",
        "example_id",
        "repeat",
        "human_score",
        "score",
        "valid_json",
        "schema_valid",
        "latency_ms",
        "output",
    )
    for label, example_id, repeat, human_score, score, valid_json, schema_valid, latency_ms, output in rows:
        human = labels.get(example_id) or {}
        output = output if schema_valid else {}
        grades.setdefault(label, []).append(
            GradedItem(
                example_id=example_id,
                repeat=repeat,
                human_score=human_score,
                score=score if schema_valid else None,
                valid_json=valid_json,
                latency_ms=latency_ms,
                missing_concepts=tuple(output.get("missing_concepts") or ()),
                justification=str(output.get("justification") or ""),
                human_missing_concepts=tuple(human["missing_concepts"]) if "missing_concepts" in human else None,
                human_justification=human.get("justification"),
            )
        )
    return grades


def _left_out(run: ComparisonRun, grades: dict[str, list[GradedItem]]) -> list[dict[str, Any]]:
    """The rows chosen for the comparison, or in its split, that no figure counts, with why. Invalid grades
    are not among them: they count, at their penalty score."""
    stored = run.filters.get("left_out") or []
    pairs = stored.items() if isinstance(stored, dict) else stored  # a mapping in runs made before pairs
    reasons = {reason: list(ids) for reason, ids in pairs}
    graded = {grade.example_id for model_grades in grades.values() for grade in model_grades}
    gone = [example_id for example_id in run.filters.get("example_ids") or [] if example_id not in graded]
    if gone:
        reasons["deleted before it was graded"] = gone
    return [{"reason": reason, "count": len(ids), "example_ids": ids} for reason, ids in reasons.items() if ids]


def comparison_report(*, run: ComparisonRun) -> dict[str, Any]:
    """The report of a comparison's recorded grades, with the gate rules and bootstrap size from settings, and
    the rows it left out."""
    grades = _graded_items(run)
    report = comparison_report_build(
        grades,
        repeats=run.repeats,
        resamples=settings.COMPARISON_BOOTSTRAP_RESAMPLES,
        seed=run.seed,
        rules=GateRules.from_settings(),
        usage={c["label"]: PromptUsage.from_json(c.get("prompt_usage")) for c in run.contenders},
        prompt_variants={c["label"]: c.get("prompt_variant") or PromptVariant.FULL for c in run.contenders},
    )
    return {**report, "left_out": _left_out(run, grades)}
