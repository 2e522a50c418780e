"""API schemas for Modelfiles (/api/v1/modelfiles)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.urls import reverse
from ninja import Schema
from pydantic import AliasChoices, Field

from evaluation.choices import LanguageValue
from ready4hire.validation import InputSchema, OptionalText, Text

ParameterValue = float | int | Text | list[Text] | None


class ModelfileIn(InputSchema):
    name: Text = Field(max_length=200, description="The model's name on the Ollama server, e.g. ready4hire:v1.")
    base: Text = Field(
        max_length=500,
        validation_alias=AliasChoices("from", "base"),
        description="FROM (also accepted as `base`): an Ollama model name, a GGUF file or a safetensors directory.",
    )
    adapter: OptionalText = Field(default="", max_length=500, description="ADAPTER: a LoRA adapter file or directory.")
    parameters: dict[Text, ParameterValue] = Field(
        default_factory=dict,
        description="PARAMETERs over the defaults (temperature 0.1, num_ctx 4096, top_p 0.9, repeat_penalty 1.1, "
        "num_predict); null removes a default; `stop` may be a list.",
    )
    system: OptionalText | None = Field(
        default=None, description="SYSTEM; empty: the grading instructions and schema of the current prompt version."
    )
    template: OptionalText | None = None
    license: OptionalText | None = None
    language: LanguageValue = "es"
    dataset_export_id: int | None = Field(default=None, description="The export few-shot MESSAGE pairs come from.")
    few_shot: int | None = Field(default=None, ge=0, le=10, description="Pairs to draw; 3 by default with an export.")
    push: bool = Field(default=False, description="Queue the push to the configured Ollama server.")
    validate_model: bool = Field(
        default=False,
        validation_alias=AliasChoices("validate", "validate_model"),
        description="Queue the validation (after the push, when both are asked).",
    )


class ModelfilePushIn(InputSchema):
    validate_model: bool = Field(
        default=False,
        validation_alias=AliasChoices("validate", "validate_model"),
        description="Validate the model once it is pushed.",
    )


class ModelfileSummaryOut(Schema):
    id: int
    name: str
    base: str
    adapter: str
    language: str
    few_shot: int
    dataset_export_id: int | None
    prompt_version: str
    status: str
    progress: int
    error: str
    push_status: str
    pushed_at: datetime | None
    validation_status: str
    validated_at: datetime | None
    created_at: datetime


class ModelfileOut(ModelfileSummaryOut):
    parameters: dict[str, Any]
    system: str
    template: str
    license: str
    content: str = Field(description="The rendered Modelfile.")
    validation: dict[str, Any]
    download_url: str

    @staticmethod
    def resolve_download_url(obj) -> str:
        return reverse("api-1:modelfile_download", kwargs={"modelfile_id": obj.pk})


class ModelfileFilters(InputSchema):
    name: Text | None = Field(default=None, max_length=200)
    push_status: Literal["not_pushed", "pushed", "failed"] | None = None
    validation_status: Literal["not_run", "passed", "failed"] | None = None
