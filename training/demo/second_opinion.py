"""The demo's second grader: how much of the bank's reference answer an answer repeats, on the 0–10 scale.

Without an LLM every demo grade comes from the heuristic, so the demo has no second model to disagree with
it. This plain reference-overlap score (the share of the reference answer's longer word stems that the
answer contains) is a different, honest judgement of the same answer: it ignores the expected concepts and
the answer's length and shape, which the heuristic weighs. Their spread fills the review queue's
`disagreement` order with real cases, as a second model version would in production.
"""

from __future__ import annotations

from evaluation.llm.text import stem, tokenize

from ..models import TrainingExample
from ..services.opinions import example_opinion_add

GRADER = "demo-reference-overlap"


def _stems(text: str) -> set[str]:
    return {stem(word) for word in tokenize(text) if len(word) > 3}


def reference_overlap_score(*, answer: str, reference: str) -> float:
    wanted = _stems(reference)
    if not wanted:
        return 0.0
    return round(10 * len(wanted & _stems(answer)) / len(wanted), 1)


def demo_second_opinions() -> int:
    """Add the reference-overlap opinion to every pending example graded from a bank question."""
    added = 0
    pending = TrainingExample.objects.filter(
        review_status=TrainingExample.ReviewStatus.PENDING, evaluation__question__isnull=False
    ).exclude(evaluation__question__reference_answer="")
    rows = pending.values_list("pk", "answer", "evaluation__question__reference_answer")
    for example_id, answer, reference in rows.iterator(chunk_size=500):
        score = reference_overlap_score(answer=answer, reference=reference)
        example_opinion_add(example_id=example_id, grader=GRADER, scores=[score])
        added += 1
    return added
