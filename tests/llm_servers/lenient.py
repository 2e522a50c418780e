"""A lenient judge on loopback: the Ollama protocol, but every grade squeezed into the upper half of the scale,
5 + true / 2, where the true score is what the plain fake grader gives (`grade_for`). Calibration tests grade
with it and review with the true scores."""

from __future__ import annotations

from typing import Any

from evaluation.llm.parsing import reconcile_breakdown

from .grader import grade_for
from .ollama import FakeOllamaServer


def true_score(messages: list[dict[str, Any]]) -> float:
    return grade_for(messages)["score"]


def lenient(score: float) -> float:
    return round(5 + score / 2, 1)


class LenientOllamaServer(FakeOllamaServer):
    def grade(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        fair = grade_for(messages)
        score = lenient(fair["score"])
        return {**fair, "score": score, "breakdown": reconcile_breakdown(score, fair["breakdown"])}
