"""API schemas of dataset exports."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from evaluation.choices import CategoryValue, DifficultyValue, LanguageValue, PromptVariantValue
from ready4hire.validation import InputSchema, Text

from ..exports.filters import DEFAULT_REVIEW_STATUSES, DEFAULT_SOURCES, MIN_SCORE_HELP, ExportFilters
from .examples import ReviewStatus, Source
from .jobs import RequestedJobOut

Format = Literal["alpaca", "sharegpt", "messages", "preference"]


class DatasetExportFiltersIn(InputSchema):
    """Which examples the export takes; each left out keeps its default (the curated examples)."""

    sources: list[Source] = Field(default=list(DEFAULT_SOURCES), description="Empty: every source.")
    review_statuses: list[ReviewStatus] = Field(
        default=list(DEFAULT_REVIEW_STATUSES), description="Empty: every state."
    )
    min_score: float | None = Field(default=None, ge=0, le=10, description=MIN_SCORE_HELP)
    categories: list[CategoryValue] = Field(default_factory=list, description="Empty: every category.")
    difficulties: list[DifficultyValue] = Field(default_factory=list, description="Empty: every difficulty.")
    languages: list[LanguageValue] = Field(default_factory=list, description="Empty: every language.")


class DatasetExportIn(InputSchema):
    name: str = Field(default="ready4hire", pattern=r"^[-a-zA-Z0-9_]+$", max_length=100)
    format: Format = "messages"
    # The same shape as an export's `filters` in the response, so what was asked reads back as it was sent.
    filters: DatasetExportFiltersIn = Field(default_factory=DatasetExportFiltersIn)
    train_share: float = Field(default=0.8, gt=0, lt=1, description="The share of examples that train (0-1).")
    seed: int = Field(default=42, ge=-(2**31), le=2**31 - 1, description="Same rows + filters + seed: same files.")
    balance_categories: bool = Field(default=False, description="Down-sample every category to the smallest.")
    prompt_variant: PromptVariantValue = Field(
        default="full",
        description="The system prompt in every row: full (rubric and JSON Schema) or compact (a few sentences, "
        "for a grader fine-tuned on it; its model versions are then served the compact prompt).",
    )

    def export_filters(self) -> ExportFilters:
        filters = self.filters
        return ExportFilters(
            sources=tuple(filters.sources),
            review_statuses=tuple(filters.review_statuses),
            min_score=filters.min_score,
            categories=tuple(filters.categories),
            difficulties=tuple(filters.difficulties),
            languages=tuple(filters.languages),
        )


class DatasetFileOut(Schema):
    path: str = Field(description="Relative to MEDIA_ROOT.")
    size: int
    sha256: str
    url: str = Field(description="Where the API serves it.")


class DatasetExportOut(RequestedJobOut):
    id: int
    name: str
    version: int
    format: str
    status: str
    progress: int
    error: str
    filters: dict[str, Any]
    train_share: float
    seed: int
    balance_categories: bool
    prompt_version: str
    prompt_variant: str = Field(description="The system prompt in every row: full or compact.")
    train_count: int
    val_count: int
    counts: dict[str, Any] = Field(description="matched, kept, dropped_by_balancing; by category etc. per split.")
    files: dict[str, DatasetFileOut]
    warnings: list[str] = Field(description="What the export left out and the filter to change, one line each.")
    scheduled: bool

    @staticmethod
    def resolve_files(obj) -> dict[str, dict[str, Any]]:
        return {
            key: {**entry, "url": f"/api/v1/datasets/{obj.pk}/files/{key}"} for key, entry in (obj.files or {}).items()
        }


class DatasetExportFilters(InputSchema):
    name: Text | None = Field(default=None, max_length=100)
    status: Literal["pending", "running", "done", "failed", "cancelled"] | None = None
