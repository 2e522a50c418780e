"""The consensus rule (pure): what several reviews of one example decide.

Reviews agree when they give the same verdict (keep — approve or correct, each with a score — or reject) and,
for a kept example, their scores lie within `SCORE_TOLERANCE` points of each other; the example is then
approved with the median score (or rejected). Anything else needs an adjudicator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

SCORE_TOLERANCE = 1.0


@dataclass(frozen=True)
class Vote:
    verdict: str  # "keep" or "reject"
    score: float | None = None


@dataclass(frozen=True)
class Decision:
    status: str  # "approved", "rejected" or "adjudication"
    score: float | None = None


def consensus(votes: Sequence[Vote], *, tolerance: float = SCORE_TOLERANCE) -> Decision:
    if not votes:
        raise ValueError("a decision needs at least one review")
    verdicts = {vote.verdict for vote in votes}
    if verdicts == {"reject"}:
        return Decision("rejected")
    if verdicts != {"keep"}:
        return Decision("adjudication")
    scores = [vote.score for vote in votes if vote.score is not None]
    if scores and max(scores) - min(scores) > tolerance + 1e-9:
        return Decision("adjudication")
    return Decision("approved", round(median(scores), 1) if scores else None)
