"""API schemas of the curation app."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, field_validator, model_validator

from evaluation.choices import CategoryValue, DifficultyValue, LanguageValue
from evaluation.llm.schema import GradeResult
from ready4hire.validation import InputSchema, OptionalText, Text, texts_problem

from .calibrations import AgreementMonitorOut

Source = Literal["llm", "heuristic", "human"]
ReviewStatus = Literal["pending", "approved", "rejected", "adjudication"]
QueueOrder = Literal["disagreement", "newest", "uncertainty", "balance"]


class ExampleFilters(InputSchema):
    review_status: ReviewStatus | None = None
    category: CategoryValue | None = None
    difficulty: DifficultyValue | None = None
    role: Text | None = Field(default=None, max_length=100)
    language: LanguageValue | None = None
    source: Source | None = None
    min_score: float | None = Field(default=None, ge=0, le=10)
    max_score: float | None = Field(default=None, ge=0, le=10)
    q: Text | None = Field(default=None, max_length=200, description="Text searched in the question and answer.")


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
    opinions: dict[str, float] = Field(description="Other graders' scores of the same answer: {grader: score}.")
    disagreement: float = Field(description="The spread between the opinions (max - min).")
    uncertainty: float
    version: int = Field(description="Send it back as `expected_version`: a review made on an older copy is refused.")
    reserved_until: datetime | None = Field(
        description="Until when the example is held for the reviewer who has it open."
    )

    @staticmethod
    def resolve_reviewed_by(obj) -> str | None:
        return obj.reviewer_name


class QueueFilters(ExampleFilters):
    order: QueueOrder = Field(
        default="disagreement",
        description="newest | disagreement (graders disagree most) | uncertainty | balance (what exports lack).",
    )


class ReviewOut(Schema):
    reviewer: str | None
    kind: str
    action: str
    score: float | None
    note: str
    seconds_spent: float | None
    created_at: datetime
    current: bool = Field(description="Counts towards the example's status (false once it was sent back).")

    @staticmethod
    def resolve_reviewer(obj) -> str | None:
        return obj.reviewer_name


class ExampleDetailOut(ExampleOut):
    reviews: list[ReviewOut] = Field(description="Every review of the example, newest first.")


class QueueExampleOut(ExampleDetailOut):
    remaining: int = Field(description="How many more examples the queue holds for the caller after this one.")


CORRECTION_FIELDS = ("score", "breakdown", "label", "justification", "missing_concepts")


class ReviewIn(InputSchema):
    action: Literal["approve", "reject", "correct", "reopen"]
    score: float | None = Field(default=None, description="correct: the corrected overall score, 0-10.")
    breakdown: dict[str, float] | None = Field(
        default=None,
        description="correct: completeness (0-3), technical_depth (0-3), clarity (0-2), key_concepts (0-2).",
    )
    label: dict[str, Any] | None = Field(
        default=None, description="correct: a full corrected grade (the output schema)."
    )
    justification: Text | None = Field(default=None, max_length=2000)
    missing_concepts: list[Text] | None = Field(default=None, max_length=50)
    note: OptionalText = Field(
        default="", max_length=2000, description="Why: kept on the example and in the admin log."
    )
    seconds_spent: float | None = Field(default=None, ge=0, le=86400, description="Time the reviewer spent on it.")
    expected_version: int | None = Field(
        default=None, ge=0, description="The example's `version` when it was loaded: refused (409) if it changed since."
    )

    @field_validator("label")
    @classmethod
    def _label_texts(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and (found := texts_problem(value)):
            raise ValueError(f"{found[0] or 'a key'} {found[1]}")
        return value

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
    human_reviewed: int = Field(description="Examples people approved or rejected (automatic approvals apart).")
    automatic_approvals: int = Field(description="Examples a program approved (the demo's), never counted as reviewed.")
    reviewed_share: float = Field(description="Examples people approved or rejected over all examples (0-1).")
    agreement_monitor: list[AgreementMonitorOut] = Field(
        description="Machine vs. human over each grader's last AGREEMENT_MONITOR_LAST_REVIEWS reviews, per category."
    )


class CollectionSettingsIO(InputSchema):
    enabled: bool
    min_score_threshold: float = Field(ge=0, le=10, description="Grades below this score are not collected.")
    sources: list[Source] = Field(description="The grade sources that are collected.")
    reviews_required: int | None = Field(
        default=None, ge=1, le=5, description="Reviews by different people before an example is decided (1-5)."
    )
    review_reservation_seconds: int | None = Field(
        default=None, ge=30, le=86400, description="How long the example a reviewer has open is held for them."
    )


class ReviewerAgreementOut(Schema):
    username: str
    reviews: int
    median_seconds: float | None
    agreement: float | None = Field(description="Share of their reviews that agree with the final decision.")


class PairAgreementOut(Schema):
    reviewers: list[str]
    items: int
    quadratic_weighted_kappa: float | None


class MachineAgreementOut(Schema):
    items: int
    qwk: float | None
    mae: float | None


class AgreementOut(Schema):
    reviews_required: int
    items_with_multiple_reviews: int
    krippendorff_alpha: float | None = Field(description="Interval α over the 0-10 scores of items with 2+ reviews.")
    pairs: list[PairAgreementOut]
    machine_vs_human: MachineAgreementOut
    by_category: dict[str, MachineAgreementOut]
    reviewers: list[ReviewerAgreementOut]
