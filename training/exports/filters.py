"""Which examples an export takes: the `ExportFilters` value object, its defaults and its help text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_noop

from evaluation.llm.schema import CATEGORIES, DIFFICULTIES, LANGUAGES
from ready4hire.errors import InvalidInput

from ..models import TrainingExample

DEFAULT_SOURCES = (TrainingExample.Source.HUMAN.value, TrainingExample.Source.LLM.value)
DEFAULT_REVIEW_STATUSES = (TrainingExample.ReviewStatus.APPROVED.value,)
# Marked for the catalogue but left in English here: the API schema and the command show it as it is, the
# admin form translates it.
MIN_SCORE_HELP = gettext_noop(
    "Only examples scored at least this. Off by default, on purpose: dropping the low scores leaves a grader "
    "that has never seen a weak answer graded low, so it learns never to give a low score."
)
_FILTER_CHOICES: dict[str, tuple[str, ...]] = {
    "sources": tuple(TrainingExample.Source.values),
    # Examples whose reviews disagree (adjudication) are never exported.
    "review_statuses": tuple(v for v in TrainingExample.ReviewStatus.values if v != "adjudication"),
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
    # Only examples a reviewer corrected (the machine's grade kept beside the label): a preference export's pairs.
    corrected_only: bool = False

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
            corrected_only=bool(data.get("corrected_only", False)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "review_statuses": list(self.review_statuses),
            "min_score": self.min_score,
            "categories": list(self.categories),
            "difficulties": list(self.difficulties),
            "languages": list(self.languages),
            **({"corrected_only": True} if self.corrected_only else {}),
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
        if self.corrected_only:
            parts.append("corrected by a reviewer")
        return "; ".join(parts) or "all examples"
