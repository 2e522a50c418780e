"""Reviewed examples for the calibration tests: a grader's score and the human one, as people left them."""

from __future__ import annotations

from typing import Any

from training.models import TrainingExample

from .factories import TrainingExampleFactory, grade


def reviewed_example(grader: str, machine: float, human: float, *, category: str = "technical", **fields: Any):
    """An example `grader` scored `machine` that people approved (equal scores) or corrected to `human`."""
    corrected = machine != human
    return TrainingExampleFactory(
        model=grader,
        category=category,
        score=human,
        label=grade(human),
        original_score=machine if corrected else None,
        original_label=grade(machine) if corrected else None,
        review_status=TrainingExample.ReviewStatus.APPROVED,
        **fields,
    )
