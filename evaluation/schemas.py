"""API schemas of the grading app, and the output schema re-exported for the rest of the project."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.conf import settings
from ninja import Schema
from pydantic import Field, field_validator

from ready4hire.validation import InputSchema, OptionalText, Text

from .choices import CategoryValue, DifficultyValue, LanguageValue
from .llm.language import language_detect
from .llm.schema import GradeResult, GradingRequest

__all__ = [
    "EvaluationAccepted",
    "EvaluationFilters",
    "EvaluationIn",
    "EvaluationOut",
    "GradeResult",
    "HealthOut",
]


class EvaluationIn(InputSchema):
    question: Text = Field(description="The interview question.")
    answer: Text = Field(description="The candidate's answer (untrusted text).")
    expected_concepts: list[Text] = Field(default_factory=list, max_length=50)
    keywords: list[Text] = Field(default_factory=list, max_length=50)
    category: CategoryValue = "technical"
    difficulty: DifficultyValue = "mid"
    role: OptionalText = Field(default="", max_length=100)
    language: LanguageValue | None = Field(
        default=None, description="es or en; left out: detected from the question and answer."
    )
    model: Text | None = Field(
        default=None,
        max_length=200,
        description="A model name: the default (LLM_MODEL), a registered version (its served name or NAME:vN) "
        "or one listed in LLM_ALLOWED_MODELS.",
    )

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        if len(value) > settings.GRADING_MAX_QUESTION_CHARS:
            raise ValueError(f"must be at most {settings.GRADING_MAX_QUESTION_CHARS} characters")
        return value

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: str) -> str:
        if len(value) > settings.GRADING_MAX_ANSWER_CHARS:
            raise ValueError(f"must be at most {settings.GRADING_MAX_ANSWER_CHARS} characters (got {len(value)})")
        return value

    @field_validator("expected_concepts", "keywords")
    @classmethod
    def _terms(cls, value: list[str]) -> list[str]:
        if any(len(item) > 200 for item in value):
            raise ValueError("items must be at most 200 characters")
        return value

    def grading_request(self) -> GradingRequest:
        fields = self.model_dump(exclude={"model"})
        fields["language"] = self.language or language_detect(self.question, self.answer)
        return GradingRequest.normalised(**fields)


class EvaluationAccepted(Schema):
    id: int
    status: str
    language: str = Field(description="The language it will be graded in: the request's, or the detected one.")


class EvaluationOut(Schema):
    id: int
    status: str
    source: str
    model: str
    language: str = Field(description="The language graded in: the request's, or the one detected from it.")
    prompt_version: str
    from_cache: bool
    latency_ms: int | None
    score: float | None = Field(description="The grade's score: calibrated when `calibration_id` is set.")
    raw_score: float | None = Field(description="The grader's own score, before calibration.")
    calibration_id: int | None = Field(description="The calibration that mapped the score; null: none applied.")
    result: GradeResult | None
    attempts: int
    llm_error: str = Field(description="What went wrong with the LLM, when the grade came from the fallback.")
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_llm_error(obj) -> str:
        return obj.error


class EvaluationFilters(InputSchema):
    status: Literal["pending", "running", "done", "failed"] | None = None
    source: Literal["llm", "heuristic"] | None = None
    category: CategoryValue | None = None
    difficulty: DifficultyValue | None = None
    language: LanguageValue | None = None
    model: Text | None = Field(default=None, max_length=200)


class ComponentHealth(Schema):
    ok: bool
    detail: str


class LLMHealth(ComponentHealth):
    backend: str
    base_url: str
    model: str


class HealthOut(Schema):
    """Without credentials only `status`: the parts' details (addresses, model names, errors) are for
    authenticated callers."""

    status: Literal["ok", "degraded", "down"]
    database: ComponentHealth | None = None
    broker: ComponentHealth | None = None
    llm: LLMHealth | None = None
