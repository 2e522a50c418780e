"""The deterministic "grader" behind the fake servers: what each mode answers, and for the valid mode a grade
computed from the prompt (the score follows the share of expected concepts found in the candidate's answer)."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Literal, get_args

from evaluation.llm.schema import BREAKDOWN_MAXIMA, SCORE_MAX

Mode = Literal["valid", "invalid_json", "schema_invalid", "out_of_range", "slow", "error_500", "garbage_envelope"]
MODES: frozenset[str] = frozenset(get_args(Mode))

INVALID_JSON_CONTENT = '{"score": 7,'
SCHEMA_INVALID_CONTENT = json.dumps({"score": "high", "breakdown": {"completeness": 2}, "justification": 5})
OUT_OF_RANGE_CONTENT = json.dumps(
    {
        "score": 14,
        "breakdown": {"completeness": 5, "technical_depth": 4.5, "clarity": 3, "key_concepts": 2.5},
        "justification": "Far beyond every expectation.",
        "strengths": ["Everything"],
        "improvements": ["Nothing"],
        "concepts_covered": ["all"],
        "missing_concepts": [],
    }
)


_CONCEPTS_LINE = re.compile(
    r"^(?:Expected concepts|Conceptos esperados):[ \t]*(?:<expected_concepts>)?(.*?)(?:</expected_concepts>)?$",
    re.MULTILINE,
)
_ANSWER = re.compile(r"<candidate_answer>\n?(.*?)\n?</candidate_answer>", re.DOTALL)
_NO_CONCEPTS = {"(none)", "(ninguno)"}


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def grade_for(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The grade the valid mode returns for these chat messages (public so tests can predict it)."""
    user_texts = [str(m.get("content")) for m in messages if m.get("role") == "user"]
    prompt = next((text for text in user_texts if "<candidate_answer>" in text), "")
    spanish = "Conceptos esperados:" in prompt
    line = _CONCEPTS_LINE.search(prompt)
    listed = line.group(1).strip() if line else ""
    concepts = [] if listed in _NO_CONCEPTS else [c.strip() for c in listed.split(",") if c.strip()]
    answer_match = _ANSWER.search(prompt)
    answer = answer_match.group(1).strip() if answer_match else ""
    folded = _fold(answer)
    covered = [c for c in concepts if _fold(c) in folded]
    missing = [c for c in concepts if c not in covered]

    words = len(answer.split())
    coverage = len(covered) / len(concepts) if concepts else 0.5
    score = round(min(SCORE_MAX, 1.0 + 8.0 * coverage + min(words, 80) / 80), 1) if words else 0.0
    names = list(BREAKDOWN_MAXIMA)
    breakdown = {name: round(score * BREAKDOWN_MAXIMA[name] / SCORE_MAX, 2) for name in names[:-1]}
    breakdown[names[-1]] = round(score - sum(breakdown.values()), 2)

    if spanish:
        justification = f"La respuesta cubre {len(covered)} de {len(concepts)} conceptos esperados. Nota {score}."
        strengths = [f"Explica {c}" for c in covered] or ["Responde a la pregunta"]
        improvements = [f"Menciona {c}" for c in missing] or ["Añade un ejemplo concreto"]
    else:
        justification = f"The answer covers {len(covered)} of {len(concepts)} expected concepts. Score {score}."
        strengths = [f"Explains {c}" for c in covered] or ["Answers the question"]
        improvements = [f"Cover {c}" for c in missing] or ["Add a concrete example"]
    return {
        "score": score,
        "breakdown": breakdown,
        "justification": justification,
        "strengths": strengths,
        "improvements": improvements,
        "concepts_covered": covered,
        "missing_concepts": missing,
    }
