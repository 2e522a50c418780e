"""The one output schema every grade follows: prompt, validation, storage, training data and comparison.

`PROMPT_VERSION` versions this schema together with the prompt text; bump it whenever either changes, so
cached grades and exported datasets never mix two contracts.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The request's vocabularies are part of the contract; they are defined once, beside the models' choices.
from ..choices import CATEGORIES as CATEGORIES
from ..choices import DIFFICULTIES as DIFFICULTIES
from ..choices import LANGUAGES as LANGUAGES

PROMPT_VERSION = "2026.11-v2"

BREAKDOWN_MAXIMA: dict[str, float] = {
    "completeness": 3.0,
    "technical_depth": 3.0,
    "clarity": 2.0,
    "key_concepts": 2.0,
}
SCORE_MAX = 10.0

MAX_LIST_ITEMS = 10
MAX_ITEM_CHARS = 300
MAX_JUSTIFICATION_CHARS = 2000


class Breakdown(BaseModel):
    model_config = ConfigDict(extra="forbid")

    completeness: float = Field(ge=0, le=3, description="How fully the answer covers the question (0-3).")
    technical_depth: float = Field(ge=0, le=3, description="Depth and correctness of the reasoning (0-3).")
    clarity: float = Field(ge=0, le=2, description="Structure and clarity of the explanation (0-2).")
    key_concepts: float = Field(ge=0, le=2, description="Use of the expected key concepts (0-2).")


class GradeResult(BaseModel):
    """A grade. The breakdown sums to the score; the score is the grader's overall judgement."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0, le=10, description="Overall score from 0 to 10, one decimal.")
    breakdown: Breakdown
    justification: str = Field(description="Two to four sentences explaining the score.")
    strengths: list[str]
    improvements: list[str]
    concepts_covered: list[str]
    missing_concepts: list[str]


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _inline_refs(copy.deepcopy(defs[name]), defs)
        return {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    return node


@functools.cache
def grade_json_schema() -> dict[str, Any]:
    """The JSON Schema sent to the LLM server as the structured-output constraint (shared: do not mutate).

    References are inlined because several servers (llama.cpp grammars among them) handle a flat schema
    more reliably than `$defs`.
    """
    schema = GradeResult.model_json_schema()
    return _inline_refs(schema, schema.get("$defs", {}))


class GradingRequest(BaseModel):
    """What a grade is asked for. Normalised: trimmed text, de-duplicated concept and keyword lists."""

    model_config = ConfigDict(frozen=True)

    question: str
    answer: str
    expected_concepts: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    category: str = "technical"
    difficulty: str = "mid"
    role: str = ""
    language: str = "es"

    @classmethod
    def from_snapshot(cls, snapshot: Any) -> GradingRequest:
        """The request stored in a row or a mapping that keeps the request's own field names (a training
        example, an export row), normalised as a live request is."""
        get = snapshot.get if isinstance(snapshot, dict) else lambda name: getattr(snapshot, name)
        return cls.normalised(**{name: get(name) for name in cls.model_fields})

    @classmethod
    def normalised(cls, **fields: Any) -> GradingRequest:
        def unique(items: Any) -> tuple[str, ...]:
            seen: dict[str, str] = {}
            for item in items or ():
                text = " ".join(str(item).split())
                if text and text.casefold() not in seen:
                    seen[text.casefold()] = text
            return tuple(seen.values())

        return cls(
            question=" ".join(str(fields.get("question", "")).split()),
            # The answer keeps its line breaks (code, lists); only the ends are trimmed.
            answer=str(fields.get("answer", "")).strip(),
            expected_concepts=unique(fields.get("expected_concepts")),
            keywords=unique(fields.get("keywords")),
            category=str(fields.get("category") or "technical"),
            difficulty=str(fields.get("difficulty") or "mid"),
            role=" ".join(str(fields.get("role") or "").split()),
            language=str(fields.get("language") or "es"),
        )
