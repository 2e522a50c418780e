"""Curation services. Collection is a no-op until the curation work fills it in."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluation.models import Evaluation


def example_collect_from_evaluation(*, evaluation: Evaluation) -> None:
    """Called inside the grading transaction for every finished evaluation."""
    return None
