"""Reads for dataset exports: the rows, which examples an export's filters select, and its files on disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from pydantic import ValidationError

from evaluation.llm.schema import CATEGORIES, DIFFICULTIES, LANGUAGES, GradingRequest
from ready4hire.errors import InvalidInput, NotFound

from ..formats import FORMATS, format_example
from ..models import DatasetExport, JobStatus, TrainingExample
from .examples import SCORE_BUCKETS

# The files an export writes, by the key the API and the admin use to download them.
EXPORT_FILES = ("train", "val", "manifest", "dataset_info", "axolotl", "guide")
DEFAULT_SOURCES = (TrainingExample.Source.HUMAN.value, TrainingExample.Source.LLM.value)
DEFAULT_REVIEW_STATUSES = (TrainingExample.ReviewStatus.APPROVED.value,)
MIN_SCORE_HELP = (
    "Only examples scored at least this. Off by default, on purpose: dropping the low scores leaves a grader "
    "that has never seen a weak answer graded low, so it learns never to give a low score."
)
_FILTER_CHOICES: dict[str, tuple[str, ...]] = {
    "sources": tuple(TrainingExample.Source.values),
    "review_statuses": tuple(TrainingExample.ReviewStatus.values),
    "categories": CATEGORIES,
    "difficulties": DIFFICULTIES,
    "languages": LANGUAGES,
}


@dataclass(frozen=True)
class ExportFilters:
    """Which examples an export takes. An empty tuple means 'any'; the defaults are the curated examples."""

    sources: tuple[str, ...] = DEFAULT_SOURCES
    review_statuses: tuple[str, ...] = DEFAULT_REVIEW_STATUSES
    min_score: float | None = None
    categories: tuple[str, ...] = ()
    difficulties: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Sorted and de-duplicated, so the same selection is stored (and compared) the same way.
        for name, allowed in _FILTER_CHOICES.items():
            values = tuple(sorted(set(getattr(self, name) or ())))
            unknown = [value for value in values if value not in allowed]
            if unknown:
                raise InvalidInput(
                    f"Unknown {name.replace('_', ' ')}: {', '.join(unknown)}. Choose from {', '.join(allowed)}.",
                    field=name,
                )
            object.__setattr__(self, name, values)
        if self.min_score is not None and not 0 <= self.min_score <= 10:
            raise InvalidInput(f"min_score must be between 0 and 10 (got {self.min_score}).", field="min_score")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportFilters:
        """The filters stored on a DatasetExport row; missing keys take the defaults."""
        return cls(
            sources=tuple(data.get("sources", DEFAULT_SOURCES)),
            review_statuses=tuple(data.get("review_statuses", DEFAULT_REVIEW_STATUSES)),
            min_score=data.get("min_score"),
            categories=tuple(data.get("categories", ())),
            difficulties=tuple(data.get("difficulties", ())),
            languages=tuple(data.get("languages", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "review_statuses": list(self.review_statuses),
            "min_score": self.min_score,
            "categories": list(self.categories),
            "difficulties": list(self.difficulties),
            "languages": list(self.languages),
        }

    def describe(self) -> str:
        parts = [
            f"{name.replace('_', ' ')} {', '.join(values)}"
            for name, values in (
                ("review_statuses", self.review_statuses),
                ("sources", self.sources),
                ("categories", self.categories),
                ("difficulties", self.difficulties),
                ("languages", self.languages),
            )
            if values
        ]
        if self.min_score is not None:
            parts.append(f"score at least {self.min_score}")
        return "; ".join(parts) or "all examples"


def export_examples(*, filters: ExportFilters) -> QuerySet[TrainingExample]:
    """The examples `filters` select, in id order (the order every export reads and writes them in)."""
    examples = TrainingExample.objects.all()
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
    return examples.order_by("id")


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
    """The newest export of `name` that has not failed (a pending or running one counts: it is on its way)."""
    return (
        DatasetExport.objects.filter(name=name)
        .filter(~Q(status=JobStatus.FAILED))
        .order_by("-created_at", "-id")
        .first()
    )


# The columns an export reads per example: what the prompt, the label and the counts need, nothing more.
EXPORT_ROW_FIELDS = (
    "id",
    "question",
    "answer",
    "expected_concepts",
    "keywords",
    "category",
    "difficulty",
    "role",
    "language",
    "label",
    "score",
    "source",
)


def export_record(fmt: str, row: dict[str, Any]) -> dict[str, Any]:
    """One example (a dict of EXPORT_ROW_FIELDS) as a training record in `fmt`, prompted as the live grader is.

    The request is normalised exactly as a live grading request is, so training sees the served text.
    """
    request = GradingRequest.from_snapshot(row)
    try:
        return format_example(fmt, request=request, label=row["label"])
    except ValidationError as exc:
        raise InvalidInput(
            f"Training example {row['id']} has a label that does not follow the output schema: "
            f"{exc.errors()[0]['msg']}.",
            field="label",
        ) from None


def dataset_preview(*, fmt: str, filters: ExportFilters, limit: int = 3) -> list[dict[str, Any]]:
    """The first `limit` selected examples (id order) formatted as an export in `fmt` would write them."""
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.", field="format")
    if limit < 1:
        raise InvalidInput("A preview shows at least one example.", field="limit")
    rows = export_examples(filters=filters).values(*EXPORT_ROW_FIELDS)[:limit]
    return [export_record(fmt, row) for row in rows]
