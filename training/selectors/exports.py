"""Reads for dataset exports: which examples an export's filters select, the export rows, and their files on disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce

from evaluation.choices import PROMPT_VARIANTS, PromptVariant
from ready4hire.errors import InvalidInput, NotFound

from ..exports.filters import ExportFilters
from ..exports.records import EXPORT_ROW_FIELDS, export_record
from ..formats import FORMATS, PREFERENCE
from ..models import DatasetExport, JobStatus, TrainingExample
from .examples import SCORE_BUCKETS

# The files an export writes, by the key the API and the admin use to download them.
EXPORT_FILES = ("train", "val", "manifest", "dataset_info", "axolotl", "guide")


def export_examples(*, filters: ExportFilters) -> QuerySet[TrainingExample]:
    """The examples `filters` select, in id order (the order every export reads and writes them in)."""
    # Examples whose reviews disagree are never training data, whatever the filters say.
    examples = TrainingExample.objects.exclude(review_status=TrainingExample.ReviewStatus.ADJUDICATION)
    for name, lookup in (
        ("sources", "source__in"),
        ("review_statuses", "review_status__in"),
        ("categories", "category__in"),
        ("difficulties", "difficulty__in"),
        ("languages", "language__in"),
    ):
        values = getattr(filters, name)
        if values:
            examples = examples.filter(**{lookup: list(values)})
    if filters.min_score is not None:
        examples = examples.filter(score__gte=filters.min_score)
    if filters.corrected_only:
        examples = examples.filter(original_label__isnull=False)
    return examples.order_by("id")


_FILTER_COLUMNS = {
    "sources": "source",
    "review_statuses": "review_status",
    "categories": "category",
    "difficulties": "difficulty",
    "languages": "language",
}


def export_left_out(*, filters: ExportFilters) -> dict[str, dict[tuple[str, str], int]]:
    """For each filter that is set, the examples only it leaves out (every other filter holding), counted by
    (value, category): {"sources": {("heuristic", "technical"): 35}, "min_score": {("below 5", …): 3}}.
    One grouped COUNT a filter, for the warnings of an export that came out small."""
    left_out: dict[str, dict[tuple[str, str], int]] = {}
    for name, column in _FILTER_COLUMNS.items():
        values = getattr(filters, name)
        if values:
            rows = (
                export_examples(filters=replace(filters, **{name: ()}))
                .exclude(**{f"{column}__in": list(values)})
                .order_by()
                .values_list(column, "category")
                .annotate(count=Count("id"))
            )
            left_out[name] = {(value, category): count for value, category, count in rows}
    if filters.min_score is not None:
        rows = (
            export_examples(filters=replace(filters, min_score=None))
            .filter(score__lt=filters.min_score)
            .order_by()
            .values_list("category")
            .annotate(count=Count("id"))
        )
        left_out["min_score"] = {(f"below {filters.min_score:g}", category): count for category, count in rows}
    return left_out


def score_bucket_index(score: float) -> int:
    """The position in SCORE_BUCKETS of a score (same bounds as `score_bucket_q`, computed in Python)."""
    for index, (_, low, high) in enumerate(SCORE_BUCKETS):
        if score >= low and (high is None or score < high):
            return index
    return 0  # below zero cannot be stored (a check constraint), so this only guards against NaN


def export_plan_rows(*, filters: ExportFilters, chunk_size: int) -> Iterator[tuple[int, str, float]]:
    """(id, category, score) of every selected example, in id order, fetched in chunks: all a split needs."""
    return export_examples(filters=filters).values_list("id", "category", "score").iterator(chunk_size=chunk_size)


def dataset_export_get(*, export_id: int) -> DatasetExport:
    try:
        return DatasetExport.objects.select_related("requested_by", "requested_by_key").get(pk=export_id)
    except DatasetExport.DoesNotExist:
        raise NotFound(f"Dataset export {export_id} does not exist.", field="id") from None


def dataset_export_list(*, name: str | None = None, status: str | None = None) -> QuerySet[DatasetExport]:
    """Exports, newest first."""
    exports = DatasetExport.objects.select_related("requested_by", "requested_by_key")
    if name:
        exports = exports.filter(name=name)
    if status:
        exports = exports.filter(status=status)
    return exports.order_by("-created_at", "-id")


def dataset_export_file_path(*, export: DatasetExport, file: str) -> Path:
    """Where one of a finished export's files lies on disk; NotFound for an unknown file or unfinished export."""
    if file not in EXPORT_FILES:
        raise NotFound(f"Unknown export file {file!r}; choose one of {', '.join(EXPORT_FILES)}.", field="file")
    if export.status != JobStatus.DONE:
        raise NotFound(f"Dataset export {export.pk} is {export.status}, not done: it has no files yet.", field="id")
    entry = export.files.get(file)
    media_root = Path(settings.MEDIA_ROOT).resolve()
    path = (media_root / entry["path"]).resolve() if entry else None
    # The stored path is relative to MEDIA_ROOT; anything resolving outside it is not ours to serve.
    if path is None or not path.is_relative_to(media_root) or not path.is_file():
        raise NotFound(f"The {file} file of dataset export {export.pk} is missing on disk.", field="file")
    return path


def dataset_export_paths(*, export: DatasetExport) -> dict[str, Path]:
    """Absolute paths of an export's files by key (train, val, manifest, …): what a person opens."""
    media_root = Path(settings.MEDIA_ROOT)
    return {key: media_root / entry["path"] for key, entry in export.files.items()}


def approved_examples_since(*, filters: ExportFilters, since) -> int:
    """How many examples `filters` select that were approved (or, never reviewed, created) after `since`."""
    examples = export_examples(filters=filters).order_by()
    if since is not None:
        examples = examples.annotate(approved_at=Coalesce("reviewed_at", "created_at")).filter(approved_at__gt=since)
    return examples.count()


def dataset_export_last(*, name: str) -> DatasetExport | None:
    """The newest export of `name` that was not failed or cancelled (a pending or running one counts: it is on
    its way)."""
    return (
        DatasetExport.objects.filter(name=name)
        .filter(~Q(status__in=[JobStatus.FAILED, JobStatus.CANCELLED]))
        .order_by("-created_at", "-id")
        .first()
    )


def preference_filters(fmt: str, filters: ExportFilters) -> ExportFilters:
    """A preference export takes only corrected examples: an uncorrected one has no rejected grade."""
    return replace(filters, corrected_only=True) if fmt == PREFERENCE else filters


def dataset_preview(
    *, fmt: str, filters: ExportFilters, limit: int = 3, prompt_variant: str = PromptVariant.FULL
) -> list[dict[str, Any]]:
    """The first `limit` selected examples (id order) formatted as an export in `fmt` (with the system prompt of
    `prompt_variant`) would write them."""
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.", field="format")
    if limit < 1:
        raise InvalidInput("A preview shows at least one example.", field="limit")
    if prompt_variant not in PROMPT_VARIANTS:
        raise InvalidInput(f"Unknown prompt variant {prompt_variant!r}.", field="prompt_variant")
    rows = export_examples(filters=preference_filters(fmt, filters)).values(*EXPORT_ROW_FIELDS)[:limit]
    return [export_record(fmt, row, prompt_variant) for row in rows]
