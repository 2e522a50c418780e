"""API schemas of A/B comparisons."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, create_model, model_validator

from ready4hire.validation import InputSchema, OptionalText, Text

from .examples import ExampleFilters


class ContenderIn(InputSchema):
    label: Text = Field(min_length=1, max_length=100, description="How the report names this model, e.g. base.")
    ref: Text = Field(
        min_length=1,
        max_length=700,
        description="A server model name, NAME:vN, latest or tiny-base; @BACKEND+URL names another server.",
    )


# The list filters of the examples, less the review status (a comparison takes approved examples only) and the
# text search.
ComparisonExamplesIn = create_model(
    "ComparisonExamplesIn",
    __base__=InputSchema,
    __doc__="Which approved examples to compare on, when no dataset export is given.",
    **{
        name: (field.annotation, field)
        for name, field in ExampleFilters.model_fields.items()
        if name not in ("review_status", "q")
    },
)


class ComparisonIn(InputSchema):
    models: list[ContenderIn] = Field(min_length=2, max_length=8, description="The base first, then candidates.")
    dataset_id: int | None = Field(default=None, description="Compare on this export's split (its manifest).")
    split: Literal["train", "val"] = "val"
    filters: ComparisonExamplesIn | None = Field(default=None, description="Without a dataset: approved examples.")
    repeats: int = Field(default=1, ge=1, description="Grades per model and example (consistency, ICC).")
    limit: int | None = Field(default=None, ge=1, description="Compare on the first N examples only.")
    seed: int | None = Field(default=None, description="Generation seed of repeat 0 and bootstrap seed.")
    name: OptionalText = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _one_source_of_examples(self) -> ComparisonIn:
        if self.dataset_id is not None and self.filters is not None:
            raise ValueError("give a dataset_id or filters, not both")
        return self


class ContenderOut(Schema):
    label: str
    ref: str
    backend: str
    base_url: str
    model: str
    version_id: int | None = None
    prompt_variant: str = Field(default="full", description="The system prompt it was sent: full or compact.")


class ComparisonOut(Schema):
    id: int
    name: str
    status: str
    progress: int = Field(description="Percent of the grades done.")
    error: str
    dataset_id: int | None = Field(alias="dataset_export_id")
    split: str
    models: list[ContenderOut] = Field(alias="contenders")
    repeats: int
    seed: int
    n_examples: int
    gate: dict[str, Any] = Field(description="Per candidate: passed, and the reasons.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_n_examples(obj) -> int:
        return len((obj.filters or {}).get("example_ids") or [])


class ComparisonDetailOut(ComparisonOut):
    filters: dict[str, Any]
    report: dict[str, Any] = Field(
        description='{"models": {label: {...}}, "improvement": {label: {...}}, "gate": {label: {...}}}; '
        "empty until the comparison is done."
    )

    @staticmethod
    def resolve_filters(obj) -> dict[str, Any]:
        return {key: value for key, value in (obj.filters or {}).items() if key != "example_ids"}


class ComparisonFilters(InputSchema):
    status: Literal["pending", "running", "done", "failed", "cancelled"] | None = None
