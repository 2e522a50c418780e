"""parse_grade and reconcile_breakdown: what a model's raw text becomes, and what is refused."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from evaluation.llm.parsing import InvalidJSON, SchemaMismatch, parse_grade, reconcile_breakdown
from evaluation.llm.schema import BREAKDOWN_MAXIMA, MAX_ITEM_CHARS, MAX_JUSTIFICATION_CHARS, MAX_LIST_ITEMS


def grade(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "score": 6.0,
        "breakdown": {"completeness": 2.0, "technical_depth": 2.0, "clarity": 1.0, "key_concepts": 1.0},
        "justification": "Correct but shallow.",
        "strengths": ["Clear definition"],
        "improvements": ["Give an example"],
        "concepts_covered": ["GIL"],
        "missing_concepts": ["multiprocessing"],
    }
    return {**data, **overrides}


def text(**overrides: Any) -> str:
    return json.dumps(grade(**overrides))


def assert_reconciled(score: float, breakdown: dict[str, float]) -> None:
    assert round(sum(breakdown.values()), 2) == score
    assert all(0 <= breakdown[name] <= top for name, top in BREAKDOWN_MAXIMA.items())


def test_a_clean_grade_is_kept_as_is() -> None:
    result = parse_grade(text())

    assert result.model_dump() == grade()


@pytest.mark.parametrize(
    "wrapped",
    [
        "```json\n{body}\n```",
        "```\n{body}\n```",
        "  ```JSON\n{body}\n```  ",
        "Here is the grade:\n{body}\nLet me know if you need more.",
        'Sure! {body} {{"unrelated": true}}',
    ],
)
def test_code_fences_and_chatter_around_the_json_are_tolerated(wrapped: str) -> None:
    assert parse_grade(wrapped.format(body=text())).score == 6.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "no JSON object"),
        ("I cannot grade this answer.", "no JSON object"),
        ('{"score": 7,', "invalid JSON"),
        (f"[{text()}]", "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got str"),
        ("42", "expected a JSON object, got int"),
    ],
)
def test_output_that_is_not_a_json_object_is_invalid_json(raw: str, message: str) -> None:
    with pytest.raises(InvalidJSON, match=message):
        parse_grade(raw)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({k: v for k, v in grade().items() if k != "justification"}, "justification"),
        ({k: v for k, v in grade().items() if k != "breakdown"}, "breakdown"),
        (grade(breakdown={"completeness": 2.0}), "breakdown.technical_depth"),
        (grade(score="high"), "score"),
        (grade(strengths="good"), "strengths"),
        (grade(missing_concepts=None), "missing_concepts"),
    ],
)
def test_missing_fields_and_wrong_types_are_a_schema_mismatch(data: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaMismatch, match=f"{field}:"):
        parse_grade(json.dumps(data))


def test_schema_mismatch_is_not_invalid_json() -> None:
    # Comparisons count the two failures separately.
    with pytest.raises(SchemaMismatch) as caught:
        parse_grade("{}")
    assert not isinstance(caught.value, InvalidJSON)


def test_extra_fields_are_ignored() -> None:
    result = parse_grade(text(confidence=0.9, breakdown={**grade()["breakdown"], "style": 1}))

    assert "confidence" not in result.model_dump()
    assert result.score == 6.0


def test_a_numeric_string_score_is_accepted() -> None:
    assert parse_grade(text(score="6.0")).score == 6.0


@pytest.mark.parametrize(("given", "expected"), [(14, 10.0), (-3, 0.0), (7.46, 7.5), (7.44, 7.4), (float("nan"), 0.0)])
def test_the_score_is_clamped_to_0_10_with_one_decimal(given: float, expected: float) -> None:
    result = parse_grade(text(score=given))

    assert result.score == expected
    assert_reconciled(result.score, result.breakdown.model_dump())


def test_breakdown_parts_over_their_maxima_are_clamped() -> None:
    result = parse_grade(
        text(score=14, breakdown={"completeness": 5, "technical_depth": 4.5, "clarity": 3, "key_concepts": -1})
    )

    assert result.breakdown.model_dump() == dict(BREAKDOWN_MAXIMA)


def test_lists_are_trimmed_deduplicated_and_capped() -> None:
    long_item = "x" * (MAX_ITEM_CHARS + 50)
    many = [f"point {n}" for n in range(MAX_LIST_ITEMS + 5)]
    result = parse_grade(
        text(
            strengths=["  Clear\n definition ", "clear definition", "", "   ", "CLEAR DEFINITION", "Good example"],
            improvements=[long_item],
            concepts_covered=many,
        )
    )

    assert result.strengths == ["Clear definition", "Good example"]
    assert result.improvements == ["x" * MAX_ITEM_CHARS]
    assert result.concepts_covered == many[:MAX_LIST_ITEMS]


def test_the_justification_is_collapsed_and_capped() -> None:
    result = parse_grade(text(justification="Good\n\n   answer. " + "y" * MAX_JUSTIFICATION_CHARS))

    assert result.justification.startswith("Good answer. y")
    assert len(result.justification) == MAX_JUSTIFICATION_CHARS


def test_a_breakdown_that_disagrees_bends_to_the_score() -> None:
    result = parse_grade(text(score=3.0))

    assert result.score == 3.0
    assert result.breakdown.model_dump() == {
        "completeness": 1.0,
        "technical_depth": 1.0,
        "clarity": 0.5,
        "key_concepts": 0.5,
    }


def test_reconcile_scales_proportionally_when_nothing_overflows() -> None:
    parts = {"completeness": 1.0, "technical_depth": 2.0, "clarity": 0.5, "key_concepts": 0.5}

    assert reconcile_breakdown(6.0, parts) == {
        "completeness": 1.5,
        "technical_depth": 3.0,
        "clarity": 0.75,
        "key_concepts": 0.75,
    }


def test_reconcile_caps_a_part_and_shares_the_rest() -> None:
    parts = {"completeness": 3.0, "technical_depth": 1.0, "clarity": 1.0, "key_concepts": 0.0}

    result = reconcile_breakdown(8.0, parts)

    # 8 × 3/5 passes completeness's cap; the 5 left split 2.5/2.5 passes clarity's; technical_depth takes the rest.
    assert result == {"completeness": 3.0, "technical_depth": 3.0, "clarity": 2.0, "key_concepts": 0.0}


def test_reconcile_spreads_a_breakdown_of_zeros_by_the_maxima() -> None:
    zeros = dict.fromkeys(BREAKDOWN_MAXIMA, 0.0)

    assert reconcile_breakdown(5.0, zeros) == {
        "completeness": 1.5,
        "technical_depth": 1.5,
        "clarity": 1.0,
        "key_concepts": 1.0,
    }
    assert reconcile_breakdown(0.0, zeros) == zeros
    assert reconcile_breakdown(10.0, zeros) == dict(BREAKDOWN_MAXIMA)


def test_reconcile_always_sums_to_the_score_within_the_maxima() -> None:
    rng = random.Random(20261125)
    for _ in range(2000):
        score = round(rng.uniform(0, 10), 1)
        parts = {}
        for name, top in BREAKDOWN_MAXIMA.items():
            parts[name] = rng.choice([0.0, rng.uniform(-1, top + 2), float(rng.randint(0, 3))])
        assert_reconciled(score, reconcile_breakdown(score, parts))
