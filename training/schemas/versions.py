"""API schemas of model versions: the list, promotion and retirement."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from evaluation.choices import PromptVariantValue
from ready4hire.validation import InputSchema, OptionalText

VersionCategory = Literal["all", "technical", "soft_skills"]


class ModelVersionOut(Schema):
    id: int
    reference: str = Field(description="NAME:vN, the reference commands and comparisons use.")
    name: str
    version: int
    kind: str
    base_model: str
    run_id: int | None
    dataset_export_id: int | None
    served_name: str = Field(description="The model's name on the LLM server; live grading needs one.")
    gguf_path: str
    origin: str = Field(description="For a model trained elsewhere: what it was registered from.")
    prompt_variant: str = Field(description="The system prompt it was trained with, and is sent: full or compact.")
    status: str
    category: str = Field(description="The category it grades when active: all, technical or soft_skills.")
    promoted_by: str | None
    promoted_at: datetime | None
    promotion_forced: bool = Field(description="Promoted although it failed the promotion gate.")
    promotion_note: str
    retired_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_promoted_by(obj) -> str | None:
        return obj.promoted_by.get_username() if obj.promoted_by_id else None


class ModelVersionFilters(InputSchema):
    status: Literal["draft", "created", "validated", "active", "retired"] | None = None
    category: VersionCategory | None = None
    kind: Literal["finetuned", "base"] | None = None


class PromoteIn(InputSchema):
    category: VersionCategory | None = Field(default=None, description="Default: the version's own category.")
    force: bool = Field(default=False, description="Promote although the version failed the promotion gate.")
    note: OptionalText = Field(default="", max_length=2000, description="Why; recorded with the promotion.")


class RetireIn(InputSchema):
    note: OptionalText = Field(default="", max_length=2000)


class RegisterIn(InputSchema):
    name: str = Field(pattern=r"^[-a-zA-Z0-9_]+$", max_length=100, description="The version series, e.g. grader.")
    source: str = Field(
        min_length=1,
        max_length=1000,
        description="A GGUF file or a Hugging Face folder (inside the allowed model folders), or an Ollama model.",
    )
    dataset_export_id: int = Field(description="The dataset export it was trained on.")
    category: VersionCategory = "all"
    prompt_variant: PromptVariantValue | None = Field(
        default=None,
        description="The system prompt it was trained with (full or compact), which grading then sends it. "
        "Default: the dataset export's.",
    )
