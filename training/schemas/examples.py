"""API schemas of the curation app."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, model_validator

from evaluation.choices import CategoryValue, DifficultyValue, LanguageValue
from evaluation.llm.schema import GradeResult

Source = Literal["llm", "heuristic", "human"]
ReviewStatus = Literal["pending", "approved", "rejected"]


class ExampleFilters(Schema):
    review_status: ReviewStatus | None = None
    category: CategoryValue | None = None
    difficulty: DifficultyValue | None = None
    role: str | None = Field(default=None, max_length=100)
    language: LanguageValue | None = None
    source: Source | None = None
    min_score: float | None = Field(default=None, ge=0, le=10)
    max_score: float | None = Field(default=None, ge=0, le=10)
    q: str | None = Field(default=None, max_length=200, description="Text searched in the question and answer.")


class ExampleOut(Schema):
    id: int
    question: str
    answer: str
    expected_concepts: list[str]
    keywords: list[str]
    category: str
    difficulty: str
    role: str
    language: str
    score: float
    label: GradeResult
    original_score: float | None
    original_label: GradeResult | None
    source: str
    model: str
    prompt_version: str
    review_status: str
    reviewed_by: str | None = Field(description="The reviewer's username, or 'API key NAME' for programs.")
    reviewed_at: datetime | None
    review_note: str
    evaluation_id: int | None
    created_at: datetime

    @staticmethod
    def resolve_reviewed_by(obj) -> str | None:
        return obj.reviewer_name


CORRECTION_FIELDS = ("score", "breakdown", "label", "justification", "missing_concepts")


class ReviewIn(Schema):
    action: Literal["approve", "reject", "correct", "reopen"]
    score: float | None = Field(default=None, description="correct: the corrected overall score, 0-10.")
    breakdown: dict[str, float] | None = Field(
        default=None,
        description="correct: completeness (0-3), technical_depth (0-3), clarity (0-2), key_concepts (0-2).",
    )
    label: dict[str, Any] | None = Field(
        default=None, description="correct: a full corrected grade (the output schema)."
    )
    justification: str | None = Field(default=None, max_length=2000)
    missing_concepts: list[str] | None = Field(default=None, max_length=50)
    note: str = Field(default="", max_length=2000, description="Why: kept on the example and in the admin log.")

    @model_validator(mode="after")
    def _correction_fields_only_to_correct(self) -> ReviewIn:
        given = [name for name in CORRECTION_FIELDS if getattr(self, name) is not None]
        if given and self.action != "correct":
            raise ValueError(f"{', '.join(given)} can only be sent with action 'correct'")
        return self


class TrainingStatsOut(Schema):
    total_examples: int
    by_category: dict[str, int]
    by_difficulty: dict[str, int]
    by_role: dict[str, int]
    by_source: dict[str, int]
    by_review_status: dict[str, int]
    score_distribution: dict[str, int] = Field(description="Counts per score range: 0-3, 3-5, 5-7, 7-9, 9-10.")
    reviewed_share: float = Field(description="Approved and rejected examples over all examples (0-1).")


class CollectionSettingsIO(Schema):
    enabled: bool
    min_score_threshold: float = Field(ge=0, le=10, description="Grades below this score are not collected.")
    sources: list[Source] = Field(description="The grade sources that are collected.")
