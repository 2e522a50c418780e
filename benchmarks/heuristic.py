"""How well the heuristic grader agrees with human scores on the hand-labelled answer set.

    .venv/bin/python benchmarks/heuristic.py [--set PATH]

The set (default `tests/data/heuristic_labelled.jsonl`) holds answers to questions of the bank, Spanish and
English, each labelled by the rubric. Prints the agreement on the whole set and on its `dev` (looked at
while tuning) and `holdout` (only measured) parts, the mean signed error per kind of answer (positive: the
heuristic is more generous than the reviewer). A tie in the heuristic counts as half a
pair. The last line is `RESULT heuristic pairs=… pairwise=… spearman=… mae=…`, for the whole set.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.llm.heuristic_eval import (  # noqa: E402  (needs ROOT on the path)
    agreement_by_split,
    heuristic_scores,
    labelled_answers_load,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=ROOT / "tests" / "data" / "heuristic_labelled.jsonl")
    args = parser.parse_args()

    items = labelled_answers_load(args.set)
    scores = heuristic_scores(items)

    print(f"{'part':8} {'answers':>7} {'pairs':>6} {'pairwise':>8} {'spearman':>8} {'mae':>5}")
    results = agreement_by_split(items, scores)
    for name, result in results.items():
        count = len(items) if name == "whole" else sum(item.split == name for item in items)
        print(f"{name:8} {count:7d} {result.pairs:6d} {result.pairwise:8.3f} {result.spearman:8.3f} {result.mae:5.2f}")

    errors: dict[str, list[float]] = defaultdict(list)
    for item, score in zip(items, scores, strict=True):
        errors[item.kind].append(score - item.human_score)
    print(f"\n{'kind':11} {'answers':>7} {'signed':>6} {'mae':>5}")
    for kind, values in sorted(errors.items()):
        signed, absolute = sum(values) / len(values), sum(map(abs, values)) / len(values)
        print(f"{kind:11} {len(values):7d} {signed:+6.2f} {absolute:5.2f}")
    print()

    whole = results["whole"]
    print(
        f"RESULT heuristic pairs={whole.pairs} pairwise={whole.pairwise:.3f} spearman={whole.spearman:.3f} "
        f"mae={whole.mae:.2f}"
    )


if __name__ == "__main__":
    main()
