"""How well the heuristic grader agrees with human labels: a labelled answer set, graded and compared.

The set is a JSON-lines file of answers to questions of the bank (`tests/data/heuristic_labelled.jsonl`), one
object a line: `key` (the bank question), `language`, `kind` (reference, good, concise, partial, wrong,
off_topic, stuffing, short, injection, no_accents), `human_score` (0–10, by the rubric), `split` (`dev` or
`holdout`, by question) and `answer`. Three figures summarise the agreement:
- pairwise: among the pairs of answers with different human scores, the share the heuristic orders the same
  way; a tie in the heuristic counts as half a pair (it neither ranks the better answer first nor last);
- spearman: the rank correlation of the two scores;
- mae: the mean absolute difference, in points of the 0–10 scale.
Pure: no ORM, no settings, so a test and a benchmark share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from training.metrics import mean_absolute_error, spearman

from .heuristic import heuristic_grade
from .schema import GradingRequest

BANK_PATH = Path(__file__).resolve().parents[1] / "data" / "questions.json"


@dataclass(frozen=True)
class LabelledAnswer:
    key: str
    language: str
    kind: str
    human_score: float
    split: str
    answer: str


@dataclass(frozen=True)
class Agreement:
    pairs: int
    pairwise: float
    spearman: float
    mae: float


def labelled_answers_load(path: Path) -> list[LabelledAnswer]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [LabelledAnswer(**json.loads(line)) for line in lines if line.strip()]


def pairwise_accuracy(predicted: Sequence[float], truth: Sequence[float]) -> tuple[int, float]:
    """(number of pairs with different truth, share of them ordered alike; a predicted tie is half)."""
    pairs = 0
    agreed = 0.0
    for i, j in combinations(range(len(truth)), 2):
        if truth[i] == truth[j]:
            continue
        pairs += 1
        same_order = (predicted[i] - predicted[j]) * (truth[i] - truth[j])
        agreed += 1.0 if same_order > 0 else 0.5 if predicted[i] == predicted[j] else 0.0
    return pairs, agreed / pairs if pairs else float("nan")


def agreement(predicted: Sequence[float], truth: Sequence[float]) -> Agreement:
    pairs, pairwise = pairwise_accuracy(predicted, truth)
    return Agreement(
        pairs=pairs,
        pairwise=pairwise,
        spearman=spearman(predicted, truth),
        mae=mean_absolute_error(predicted, truth),
    )


def _requests(items: Iterable[LabelledAnswer], bank_path: Path) -> list[GradingRequest]:
    bank = {entry["key"]: entry for entry in json.loads(bank_path.read_text(encoding="utf-8"))}
    return [
        GradingRequest.from_snapshot({**bank[item.key], "question": bank[item.key]["text"], "answer": item.answer})
        for item in items
    ]


def heuristic_scores(items: Sequence[LabelledAnswer], *, bank_path: Path = BANK_PATH) -> list[float]:
    return [heuristic_grade(request).score for request in _requests(items, bank_path)]


def agreement_by_split(items: Sequence[LabelledAnswer], scores: Sequence[float]) -> dict[str, Agreement]:
    """The agreement on the whole set and on each split ('dev' answers were looked at while tuning the
    heuristic, 'holdout' ones only measured)."""
    groups = {"whole": list(range(len(items)))}
    for index, item in enumerate(items):
        groups.setdefault(item.split, []).append(index)
    return {
        name: agreement([scores[i] for i in indices], [items[i].human_score for i in indices])
        for name, indices in groups.items()
    }
