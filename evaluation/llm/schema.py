"""The one output schema every grade follows: prompt, validation, storage, training data and comparison.

`PROMPT_VERSION` versions this schema together with the prompt text; bump it whenever either changes, so
cached grades and exported datasets never mix two contracts.
"""

from __future__ import annotations

import copy
import functools
import json
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
        return cls.normalised(**{name: get(name) for name in _REQUEST_FIELDS})

    @classmethod
    def normalised(cls, **fields: Any) -> GradingRequest:
        return cls(
            question=" ".join(str(fields.get("question", "")).split()),
            # The answer keeps its line breaks (code, lists); only the ends are trimmed.
            answer=str(fields.get("answer", "")).strip(),
            expected_concepts=_unique(fields.get("expected_concepts")),
            keywords=_unique(fields.get("keywords")),
            category=str(fields.get("category") or "technical"),
            difficulty=str(fields.get("difficulty") or "mid"),
            role=" ".join(str(fields.get("role") or "").split()),
            language=str(fields.get("language") or "es"),
        )


# Read once: `model_fields` is a property that builds its answer on every call (from_snapshot runs per row).
_REQUEST_FIELDS = tuple(GradingRequest.model_fields)


def _unique(items: Any) -> tuple[str, ...]:
    """The items as trimmed text, blanks dropped, the first spelling of each (case aside) kept in order."""
    seen: dict[str, str] = {}
    for item in items or ():
        if text := " ".join(str(item).split()):
            seen.setdefault(text.casefold(), text)
    return tuple(seen.values())


# GradeResult.model_dump()'s shape as plain data, for is_grade_dump.
_GRADE_FIELDS = tuple(GradeResult.model_fields)
_BREAKDOWN_FIELDS = tuple(Breakdown.model_fields)
_BREAKDOWN_LIMITS = tuple((name, BREAKDOWN_MAXIMA[name]) for name in _BREAKDOWN_FIELDS)
_GRADE_LISTS = ("strengths", "improvements", "concepts_covered", "missing_concepts")


def is_grade_dump(data: Any) -> bool:
    """Whether `data` already is exactly what `GradeResult.model_validate(data).model_dump()` returns: the
    fields in schema order, floats within their ranges, strings and lists of strings, nothing converted.

    Every stored grade was written as such a dump, so code that reads many of them (exports, imports) can use
    one as it is after this check instead of a model round trip. False says only that the model must decide
    (it may convert an int, reorder fields or refuse); True is never said of data the model would refuse.
    """
    if type(data) is not dict or tuple(data) != _GRADE_FIELDS:
        return False
    score, breakdown = data["score"], data["breakdown"]
    if type(score) is not float or not 0.0 <= score <= SCORE_MAX:
        return False
    if type(breakdown) is not dict or tuple(breakdown) != _BREAKDOWN_FIELDS:
        return False
    for name, maximum in _BREAKDOWN_LIMITS:
        value = breakdown[name]
        if type(value) is not float or not 0.0 <= value <= maximum:
            return False
    if type(data["justification"]) is not str:
        return False
    for name in _GRADE_LISTS:
        items = data[name]
        if type(items) is not list or not all(type(item) is str for item in items):
            return False
    return True


def _grade_json_template(comma: str, colon: str) -> str:
    """A grade dump's JSON with %s for each value, in _GRADE_FIELDS order (the breakdown's one by one)."""
    parts = []
    for name in _GRADE_FIELDS:
        if name == "breakdown":
            inner = comma.join(f'"{field}"{colon}%s' for field in _BREAKDOWN_FIELDS)
            parts.append(f'"{name}"{colon}{{{inner}}}')
        elif name in _GRADE_LISTS:
            parts.append(f'"{name}"{colon}[%s]')
        else:
            parts.append(f'"{name}"{colon}%s')
    return "{" + comma.join(parts) + "}"


# (template, string encoder, item separator): json.dumps's defaults, and the compact non-ASCII form.
_GRADE_JSON = {
    False: (_grade_json_template(", ", ": "), json.encoder.encode_basestring_ascii, ", "),
    True: (_grade_json_template(",", ":"), json.encoder.encode_basestring, ","),
}


def grade_dump_json(grade: dict[str, Any], *, compact: bool = False) -> str:
    """`json.dumps(grade)`, or with `compact` `json.dumps(grade, ensure_ascii=False, separators=(",", ":"))`,
    of a grade that `is_grade_dump` accepted: the same text, a few times faster (for a value this small json
    spends more setting its encoder up on each call than writing), as its fields, their order and their types
    are known."""
    template, string, comma = _GRADE_JSON[compact]
    breakdown = grade["breakdown"]
    return template % (
        repr(grade["score"]),  # float.__repr__, as json writes a float
        *map(repr, breakdown.values()),
        string(grade["justification"]),
        comma.join(map(string, grade["strengths"])),
        comma.join(map(string, grade["improvements"])),
        comma.join(map(string, grade["concepts_covered"])),
        comma.join(map(string, grade["missing_concepts"])),
    )
