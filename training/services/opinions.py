"""Opinions: other graders' scores of the same answer, kept beside the machine grade to order the queue.

Every collected example gets the heuristic grader's score (cheap, always available) beside the grade it was
collected with; other model versions and repeated grades (comparisons) add theirs. Two figures are kept
denormalised and indexed, so the queue orders by them in SQL:
- `disagreement`: the spread (max − min) between the graders' scores;
- `uncertainty`: the spread over one grader's repeated grades when there are repeats, else how close the
  machine score lies to a score-range boundary (1 on the boundary, 0 a point or more away).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from statistics import fmean

from django.db import transaction

from evaluation.llm.heuristic import HEURISTIC_MODEL_NAME, heuristic_grade
from evaluation.llm.schema import GradingRequest
from ready4hire.errors import NotFound

from ..models import ComparisonItem, ComparisonRun, TrainingExample
from ..selectors.examples import SCORE_BUCKETS

# The inner bounds of the score ranges (3, 5, 7, 9): a score near one of them could fall in either range.
BOUNDARIES = tuple(low for _, low, _ in SCORE_BUCKETS[1:])


def boundary_closeness(score: float) -> float:
    return round(max(0.0, 1.0 - min(abs(score - bound) for bound in BOUNDARIES)), 3)


def opinion_figures(opinions: Mapping[str, float], *, machine_score: float, repeat_spread: float = 0.0) -> dict:
    """The denormalised figures of a set of opinions (pure)."""
    scores = list(opinions.values())
    disagreement = round(max(scores) - min(scores), 3) if len(scores) > 1 else 0.0
    uncertainty = round(repeat_spread, 3) if repeat_spread > 0 else boundary_closeness(machine_score)
    return {"disagreement": disagreement, "uncertainty": uncertainty}


def opinions_at_collection(*, request: GradingRequest, grader: str, score: float) -> dict:
    """The opinion fields of a newly collected example: its own grade's and the heuristic's."""
    opinions = {grader: score}
    if grader != HEURISTIC_MODEL_NAME:
        opinions[HEURISTIC_MODEL_NAME] = heuristic_grade(request).score
    return {"opinions": opinions, **opinion_figures(opinions, machine_score=score)}


def example_opinion_add(*, example_id: int, grader: str, scores: Sequence[float]) -> TrainingExample:
    """Keep `grader`'s score (the mean of its repeats) of an example and refresh the queue's figures."""
    if not scores:
        raise ValueError("an opinion needs at least one score")
    with transaction.atomic():
        try:
            example = TrainingExample.objects.select_for_update().get(pk=example_id)
        except TrainingExample.DoesNotExist:
            raise NotFound(f"Training example {example_id} does not exist.", field="id") from None
        example.opinions = {**example.opinions, grader: round(fmean(scores), 2)}
        machine = example.original_score if example.original_score is not None else example.score
        spread = max(scores) - min(scores)
        if spread == 0 and example.uncertainty > boundary_closeness(machine):
            spread = example.uncertainty  # an earlier grader's repeats stay the reason it is uncertain
        figures = opinion_figures(example.opinions, machine_score=machine, repeat_spread=spread)
        for name, value in figures.items():
            setattr(example, name, value)
        example.save(update_fields=["opinions", "disagreement", "uncertainty"])
    return example


def example_opinions_from_comparison(*, run_id: int) -> int:
    """Every contender's scores of a finished comparison become opinions on the examples they graded.
    Returns how many opinions were kept."""
    run = ComparisonRun.objects.get(pk=run_id)
    # Opinions are named by the model a contender ran, not by its label in this one comparison ("base").
    names = {contender.get("label"): contender.get("model") or contender.get("label") for contender in run.contenders}
    grouped: dict[tuple[int, str], list[float]] = defaultdict(list)
    items = ComparisonItem.objects.filter(run_id=run_id, example__isnull=False, score__isnull=False)
    for example_id, model_label, score in items.values_list("example_id", "model_label", "score"):
        grouped[(example_id, names.get(model_label) or model_label)].append(score)
    for (example_id, model_label), scores in grouped.items():
        example_opinion_add(example_id=example_id, grader=model_label, scores=scores)
    return len(grouped)
