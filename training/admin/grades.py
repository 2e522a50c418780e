"""How the reviewers' pages show a grade: the grade table, expected concepts marked covered or missing, the
other graders' opinions and the rubric of a category. Pure presentation, shared by the change page and the
review screen."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from evaluation.llm.schema import BREAKDOWN_MAXIMA
from evaluation.llm.text import fold

from ..forms import BREAKDOWN_LABELS
from ..models import TrainingExample

__all__ = ["BREAKDOWN_LABELS", "concept_marks", "grade_html", "opinions_of", "rubric_for"]

# What each part of the breakdown asks, per category: the grading prompt's rubric, in the reviewer's words.
_RUBRIC: dict[str, dict[str, Any]] = {
    "technical": {
        "completeness": gettext_lazy("Answers everything the question asks."),
        "technical_depth": gettext_lazy("Correct reasoning, as deep as the level requires."),
        "clarity": gettext_lazy("Well structured and easy to follow."),
        "key_concepts": gettext_lazy("Uses and explains the expected concepts."),
    },
    "soft_skills": {
        "completeness": gettext_lazy("Covers the situation, what they did and the result."),
        "technical_depth": gettext_lazy("Concrete, credible actions and reflection, as the level requires."),
        "clarity": gettext_lazy("Well structured and easy to follow."),
        "key_concepts": gettext_lazy("Shows the expected behaviours, not just names them."),
    },
}
_RUBRIC_NOTE = gettext_lazy("Off-topic answers, or lists of concepts without explanation, score low.")


def rubric_for(category: str) -> dict[str, Any]:
    criteria = _RUBRIC.get(category, _RUBRIC["technical"])
    return {
        "rows": [
            {"label": BREAKDOWN_LABELS[name], "top": top, "text": criteria[name]}
            for name, top in BREAKDOWN_MAXIMA.items()
        ],
        "note": _RUBRIC_NOTE,
    }


def concept_marks(expected: list[str], label: dict[str, Any]) -> list[dict[str, Any]]:
    """Each expected concept with what the machine grade said of it: covered, missing or not mentioned."""
    covered = {fold(item) for item in label.get("concepts_covered") or []}
    missing = {fold(item) for item in label.get("missing_concepts") or []}
    marks = []
    for concept in expected or []:
        key = fold(concept)
        state = "covered" if key in covered else "missing" if key in missing else "unknown"
        marks.append({"name": concept, "state": state})
    return marks


def opinions_of(example: TrainingExample) -> list[dict[str, Any]]:
    """The graders' scores of this answer, the machine grade first, and each one's distance from it."""
    machine = example.machine_label.get("score") if example.machine_label else None
    rows = [{"grader": example.model or _("machine grade"), "score": machine, "delta": 0.0, "main": True}]
    for grader, score in sorted((getattr(example, "opinions", None) or {}).items()):
        if not isinstance(score, int | float) or grader == example.model:
            continue
        delta = round(score - machine, 1) if isinstance(machine, int | float) else None
        rows.append({"grader": grader, "score": score, "delta": delta, "main": False})
    return rows


def grade_html(label: dict | None) -> str:
    """The full grade as a table (the change page's read-only "Machine grade" and "Corrected label")."""
    if not label:
        return "—"
    breakdown = label.get("breakdown") or {}
    parts = format_html_join(
        "",
        "<tr><th>{}</th><td>{} / {}</td></tr>",
        ((BREAKDOWN_LABELS[name], breakdown.get(name, "—"), f"{top:g}") for name, top in BREAKDOWN_MAXIMA.items()),
    )
    lists = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td></tr>",
        (
            (title, " · ".join(label.get(key) or []) or "—")
            for key, title in (
                ("strengths", _("Strengths")),
                ("improvements", _("Improvements")),
                ("concepts_covered", _("Concepts covered")),
                ("missing_concepts", _("Missing concepts")),
            )
        ),
    )
    return format_html(
        '<table class="r4h-grade"><tr><th>{}</th><td><strong>{} / 10</strong></td></tr>{}'
        "<tr><th>{}</th><td>{}</td></tr>{}</table>",
        _("Score"),
        label.get("score"),
        parts,
        _("Justification"),
        label.get("justification") or "—",
        lists,
    )
