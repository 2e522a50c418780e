"""API schemas of the grading app, and the output schema re-exported for the rest of the project."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.conf import settings
from ninja import Schema
from pydantic import Field, field_validator

from .choices import CategoryValue, DifficultyValue, LanguageValue
from .llm.schema import GradeResult, GradingRequest

__all__ = [
    "EvaluationAccepted",
    "EvaluationFilters",
    "EvaluationIn",
    "EvaluationOut",
    "GradeResult",
    "HealthOut",
]


class EvaluationIn(Schema):
    question: str = Field(description="The interview question.")
    answer: str = Field(description="The candidate's answer (untrusted text).")
    expected_concepts: list[str] = Field(default_factory=list, max_length=50)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    category: CategoryValue = "technical"
    difficulty: DifficultyValue = "mid"
    role: str = Field(default="", max_length=100)
    language: LanguageValue = "es"
    model: str | None = Field(default=None, max_length=200, description="Override the configured LLM model.")

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > settings.GRADING_MAX_QUESTION_CHARS:
            raise ValueError(f"must be at most {settings.GRADING_MAX_QUESTION_CHARS} characters")
        return value

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
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
        return GradingRequest.normalised(**self.model_dump(exclude={"model"}))


class EvaluationAccepted(Schema):
    id: int
    status: str


class EvaluationOut(Schema):
    id: int
    status: str
    source: str
    model: str
    prompt_version: str
    from_cache: bool
    latency_ms: int | None
    score: float | None
    result: GradeResult | None
    attempts: int
    llm_error: str = Field(description="What went wrong with the LLM, when the grade came from the fallback.")
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_llm_error(obj) -> str:
        return obj.error


class EvaluationFilters(Schema):
    status: Literal["pending", "running", "done", "failed"] | None = None
    source: Literal["llm", "heuristic"] | None = None
    category: CategoryValue | None = None
    difficulty: DifficultyValue | None = None
    language: LanguageValue | None = None
    model: str | None = Field(default=None, max_length=200)


class ComponentHealth(Schema):
    ok: bool
    detail: str


class LLMHealth(ComponentHealth):
    backend: str
    base_url: str
    model: str


class HealthOut(Schema):
    status: Literal["ok", "degraded", "down"]
    database: ComponentHealth
    broker: ComponentHealth
    llm: LLMHealth
