"""The report of an A/B comparison: pure functions from every model's grades to the metrics (agreement,
validity, consistency, latency, bootstrap intervals, improvement over the base, the promotion gate). No ORM:
`services/comparisons.py` reads the recorded grades into `GradedItem`s and stores what this returns.

Scoring rules (the report's numbers follow from them):
- An output that is not a valid grade (no JSON object, wrong shape, or no answer at all) counts as a miss,
  never as a skipped item: the agreement metrics (QWK, Spearman, Pearson, MAE, MSD, exact, ±1) and the
  consistency figures use the *penalty score* in its place, the end of the 0–10 scale farthest from the
  human score (0 when the human gave 5 or more, else 10). Its missing concepts and justification are empty.
- Agreement metrics pool every grade (examples × repeats); QWK, exact and ±1 compare ratings rounded half
  up to 0–10 (`to_rating`). Intervals are seeded percentile bootstraps over examples (an example's repeats
  stay together), so they reflect how many examples were graded, not how many times.
- `consistency_sd` is the mean over examples of the population standard deviation of an example's scores
  over the repeats; `icc` is ICC(1,1) over the repeats. Both are null with a single repeat.
- `concept_recall`: of the missing concepts in the human label, the share the model also reported missing
  (pooled over grades, accent- and case-insensitive). `rouge_l`: mean ROUGE-L F1 (0–1) of the justification
  against the reviewed one; `bleu`: corpus BLEU (0–100, sacrebleu) of the same pairs.
- `improvement` of each model over the base: QWK gain (candidate − base) and MAE reduction (base −
  candidate), absolute and relative to the base, each with a paired bootstrap interval (both models on the
  same resampled examples). Positive is better for both.
- `gate`: per model after the base, whether it passes the promotion gate in settings, with the reasons.
- Cost per grade: `latency_mean_ms` / `latency_p50_ms` / `latency_p95_ms` over the grades that got an answer;
  `prompt_tokens_mean`, the prompt tokens of a grade as the server counted them (Ollama's
  `prompt_eval_count`, OpenAI's `usage.prompt_tokens`), over the grades it counted; when it counted none, an
  estimate at four characters a token, and `prompt_tokens_source` says which ("server" or "estimate").
  `prompt_variant` is the system prompt the model was sent (full, or the compact one it was trained with).
Undefined numbers (a correlation of a constant series, a ratio over zero) are null, never made up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from statistics import fmean, pstdev
from typing import Any, ClassVar

from django.conf import settings

from .metrics import (
    agreement_within,
    bootstrap_interval,
    icc_one_way,
    mean_absolute_error,
    mean_signed_difference,
    pearson,
    percentile,
    quadratic_weighted_kappa,
    spearman,
    to_rating,
)
from .text import fold_text

CI_METRICS = ("qwk", "spearman", "pearson", "mae", "exact", "adjacent")
# Each model's headline figures (title, report key, how to show it): the command's table and the admin's page.
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("valid JSON", "valid_json_rate", "pct"),
    ("schema-valid", "schema_valid_rate", "pct"),
    ("QWK", "qwk", "num"),
    ("MAE", "mae", "num"),
    ("Spearman", "spearman", "num"),
    ("exact", "exact", "pct"),
    ("±1", "adjacent", "pct"),
    ("mean ms", "latency_mean_ms", "int"),
    ("p50 ms", "latency_p50_ms", "int"),
    ("prompt tok", "prompt_tokens_mean", "tokens"),
    ("prompt", "prompt_variant", "text"),
)
ESTIMATE_MARK = "≈"
ESTIMATE_NOTE = f"{ESTIMATE_MARK}: estimated at four characters a token (the server gave no token count)."
CHARS_PER_TOKEN = 4


def table_cell(figures: Mapping[str, Any], key: str, kind: str) -> str:
    """One TABLE_COLUMNS cell of a model's figures, as the command's table and the admin's page show it; an
    estimated token count is marked as one."""
    value = figures.get(key)
    if value is None:
        return "—"
    if kind == "text":
        return str(value)
    if kind == "tokens":
        return f"{ESTIMATE_MARK if figures.get('prompt_tokens_source') == 'estimate' else ''}{value:.0f}"
    return {"pct": f"{value:.1%}", "num": f"{value:.3f}", "int": f"{value:.0f}"}[kind]


def prompt_tokens_estimate(messages: Iterable[Mapping[str, str]]) -> int:
    """A prompt's tokens when the server does not count them: about four characters a token."""
    return max(1, math.ceil(sum(len(message["content"]) for message in messages) / CHARS_PER_TOKEN))


@dataclass(frozen=True)
class PromptUsage:
    """The prompt tokens of one model's grades, summed: the server's counts over the grades it counted them
    for, and the estimate over every grade that got an answer."""

    grades: int = 0
    server_grades: int = 0
    server_tokens: int = 0
    estimated_tokens: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PromptUsage:
        return cls(**{key: int(value) for key, value in (data or {}).items() if key in cls.__dataclass_fields__})

    def to_json(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}

    def adding(self, *, server_tokens: int | None, estimated_tokens: int) -> PromptUsage:
        counted = server_tokens is not None
        return replace(
            self,
            grades=self.grades + 1,
            server_grades=self.server_grades + counted,
            server_tokens=self.server_tokens + (server_tokens or 0),
            estimated_tokens=self.estimated_tokens + estimated_tokens,
        )

    def figures(self) -> dict[str, Any]:
        if self.server_grades:
            mean, source, counted = self.server_tokens / self.server_grades, "server", self.server_grades
        elif self.grades:
            mean, source, counted = self.estimated_tokens / self.grades, "estimate", self.grades
        else:
            mean, source, counted = None, None, 0
        return {
            "prompt_tokens_mean": _number(mean, 1),
            "prompt_tokens_source": source,
            "prompt_tokens_counted": counted,
        }


def penalty_score(human_score: float) -> float:
    """What a miss counts as in the agreement metrics: the end of the 0–10 scale farthest from the human score."""
    return 0.0 if human_score >= 5 else 10.0


@dataclass(frozen=True)
class GradedItem:
    """One grade and the human label it is measured against; `score` is None when it was not a valid grade."""

    example_id: int
    repeat: int
    human_score: float
    score: float | None
    valid_json: bool
    latency_ms: int | None = None
    missing_concepts: tuple[str, ...] = ()
    justification: str = ""
    human_missing_concepts: tuple[str, ...] | None = None  # None: the example is gone, its label unknown
    human_justification: str | None = None

    @property
    def penalised_score(self) -> float:
        return self.score if self.score is not None else penalty_score(self.human_score)


@dataclass(frozen=True)
class GateRules:
    min_schema_valid: float
    qwk_lower_above_base: bool
    min_qwk_improvement: float

    @classmethod
    def from_settings(cls) -> GateRules:
        return cls(
            min_schema_valid=settings.PROMOTION_GATE_MIN_SCHEMA_VALID,
            qwk_lower_above_base=settings.PROMOTION_GATE_QWK_LOWER_ABOVE_BASE,
            min_qwk_improvement=settings.PROMOTION_GATE_MIN_QWK_IMPROVEMENT,
        )


def _number(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def _interval(bounds: tuple[float, float]) -> list[float | None]:
    return [_number(bounds[0]), _number(bounds[1])]


class _Scores:
    """One model's grades grouped by example (in a fixed example order), with the agreement metrics over any
    resample of those examples.

    Scores and ratings are worked out once per example, and each metric once per resample: the bootstrap
    asks for thousands of resamples, and the improvement asks for the same ones again.
    """

    _FUNCTIONS: ClassVar[dict[str, Callable[[Sequence[float], Sequence[float]], float]]] = {
        "spearman": spearman,
        "pearson": pearson,
        "mae": mean_absolute_error,
        "msd": mean_signed_difference,
    }

    def __init__(self, grades: Sequence[GradedItem], example_ids: Sequence[int]) -> None:
        grouped: dict[int, list[GradedItem]] = defaultdict(list)
        for grade in grades:
            grouped[grade.example_id].append(grade)
        self.groups = [sorted(grouped[example_id], key=lambda g: g.repeat) for example_id in example_ids]
        self.all = [grade for group in self.groups for grade in group]
        self._scores = [tuple(g.penalised_score for g in group) for group in self.groups]
        self._human = [tuple(g.human_score for g in group) for group in self.groups]
        self._rated = [tuple(to_rating(score) for score in scores) for scores in self._scores]
        self._human_rated = [tuple(to_rating(score) for score in scores) for scores in self._human]
        self._everything = tuple(range(len(self.groups)))
        self._memo: dict[tuple[str, tuple[int, ...]], float] = {}

    @staticmethod
    def _take(columns: list[tuple], indices: tuple[int, ...]) -> list:
        return list(chain.from_iterable(columns[i] for i in indices))

    def metric(self, name: str, indices: Sequence[int] | None = None) -> float:
        chosen = self._everything if indices is None else tuple(indices)
        key = (name, chosen)
        if key not in self._memo:
            if name in ("qwk", "exact", "adjacent"):
                rated, truth = self._take(self._rated, chosen), self._take(self._human_rated, chosen)
                self._memo[key] = (
                    quadratic_weighted_kappa(rated, truth)
                    if name == "qwk"
                    else agreement_within(rated, truth, tolerance=0 if name == "exact" else 1)
                )
            else:
                predicted, human = self._take(self._scores, chosen), self._take(self._human, chosen)
                self._memo[key] = self._FUNCTIONS[name](predicted, human)
        return self._memo[key]


def _text_metrics(grades: Sequence[GradedItem]) -> tuple[float | None, float | None]:
    """ROUGE-L F1 (mean, 0–1) and corpus BLEU (0–100) of the justifications against the reviewed ones."""
    pairs = [(g.justification, g.human_justification) for g in grades if g.human_justification is not None]
    if not pairs:
        return None, None
    # Imported here: nltk (under rouge-score) costs ~0.2 s to import, which only comparisons should pay.
    import sacrebleu
    from rouge_score import rouge_scorer

    class _FoldingTokenizer:
        # rouge-score's default tokenizer keeps [a-z0-9] only, which splits Spanish words at every accent.
        def tokenize(self, text: str) -> list[str]:
            return "".join(c if c.isalnum() else " " for c in fold_text(text)).split()

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_FoldingTokenizer())
    rouge = fmean(scorer.score(reference, hypothesis)["rougeL"].fmeasure for hypothesis, reference in pairs)
    bleu = sacrebleu.corpus_bleu([h for h, _ in pairs], [[r for _, r in pairs]]).score
    return rouge, bleu


def _concept_recall(grades: Sequence[GradedItem]) -> float | None:
    found = expected = 0
    for grade in grades:
        if grade.human_missing_concepts is None:
            continue
        reported = {fold_text(concept) for concept in grade.missing_concepts}
        wanted = {fold_text(concept) for concept in grade.human_missing_concepts}
        found += len(wanted & reported)
        expected += len(wanted)
    return found / expected if expected else None


def _model_report(scores: _Scores, *, repeats: int, resamples: int, seed: int) -> dict[str, Any]:
    grades, n_items = scores.all, len(scores.groups)
    latencies = [g.latency_ms for g in grades if g.latency_ms is not None]
    penalised = [[g.penalised_score for g in group] for group in scores.groups]
    complete = repeats >= 2 and all(len(row) == repeats for row in penalised)
    rouge, bleu = _text_metrics(grades)
    report: dict[str, Any] = {
        "n_items": n_items,
        "n_grades": len(grades),
        "repeats": repeats,
        "valid_json_rate": _number(sum(g.valid_json for g in grades) / len(grades)) if grades else None,
        "schema_valid_rate": _number(sum(g.score is not None for g in grades) / len(grades)) if grades else None,
    }
    report.update({name: _number(scores.metric(name)) for name in (*CI_METRICS, "msd")})
    report.update(
        {
            "consistency_sd": _number(fmean(pstdev(row) for row in penalised)) if complete else None,
            "icc": _number(icc_one_way(penalised)) if complete else None,
            "concept_recall": _number(_concept_recall(grades)),
            "rouge_l": _number(rouge),
            "bleu": _number(bleu, 2),
            "latency_mean_ms": _number(fmean(latencies), 1) if latencies else None,
            "latency_p50_ms": _number(percentile(latencies, 50), 1) if latencies else None,
            "latency_p95_ms": _number(percentile(latencies, 95), 1) if latencies else None,
            "ci": {
                name: _interval(
                    bootstrap_interval(
                        lambda indices, name=name: scores.metric(name, indices), n_items, resamples=resamples, seed=seed
                    )
                )
                for name in CI_METRICS
            },
        }
    )
    return report


def _relative(gain: float, base: float) -> float:
    return gain / abs(base) if abs(base) > 1e-9 else math.nan


def _improvement(base: _Scores, candidate: _Scores, *, base_label: str, resamples: int, seed: int) -> dict:
    """QWK gain and MAE reduction of the candidate over the base, each with a paired bootstrap interval."""
    n_items = len(base.groups)
    out: dict[str, Any] = {"over": base_label}
    for name, sign in (("qwk", 1), ("mae", -1)):

        def gain(indices: Sequence[int] | None = None, name: str = name, sign: int = sign) -> float:
            return sign * (candidate.metric(name, indices) - base.metric(name, indices))

        def relative(indices: Sequence[int] | None = None, name: str = name) -> float:
            return _relative(gain(indices), base.metric(name, indices))

        out[name] = {
            "base": _number(base.metric(name)),
            "candidate": _number(candidate.metric(name)),
            "absolute": _number(gain()),
            "absolute_ci": _interval(bootstrap_interval(gain, n_items, resamples=resamples, seed=seed)),
            "relative": _number(relative()),
            "relative_ci": _interval(bootstrap_interval(relative, n_items, resamples=resamples, seed=seed)),
        }
    return out


def _gate(candidate: dict, base: dict, improvement: dict, rules: GateRules) -> dict:
    checks: list[tuple[bool, str]] = []
    valid = candidate["schema_valid_rate"] or 0.0
    checks.append(
        (
            valid >= rules.min_schema_valid,
            f"schema-valid rate {valid:.3f} {'≥' if valid >= rules.min_schema_valid else '<'} "
            f"{rules.min_schema_valid:.3f}",
        )
    )
    if rules.qwk_lower_above_base:
        lower, base_qwk = candidate["ci"]["qwk"][0], base["qwk"]
        if lower is None or base_qwk is None:
            checks.append((False, "QWK interval or base QWK undefined (too few examples, or constant scores)"))
        else:
            above = lower > base_qwk
            checks.append((above, f"QWK lower bound {lower:.3f} {'>' if above else '≤'} base QWK {base_qwk:.3f}"))
    if rules.min_qwk_improvement > 0:
        relative = improvement["qwk"]["relative"]
        enough = relative is not None and relative >= rules.min_qwk_improvement
        shown = "undefined" if relative is None else f"{relative:+.1%}"
        checks.append(
            (enough, f"relative QWK improvement {shown} {'≥' if enough else '<'} {rules.min_qwk_improvement:+.1%}")
        )
    return {"passed": all(ok for ok, _ in checks), "over": improvement["over"], "reasons": [r for _, r in checks]}


def comparison_report_build(
    grades: dict[str, Sequence[GradedItem]],
    *,
    repeats: int,
    resamples: int,
    seed: int,
    rules: GateRules,
    usage: Mapping[str, PromptUsage] | None = None,
    prompt_variants: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The report from every model's grades (`grades` in contender order, the base first), with each model's
    prompt `usage` and the `prompt_variants` it was sent (full when not given). Pure."""
    labels = list(grades)
    example_ids = sorted({g.example_id for model_grades in grades.values() for g in model_grades})
    scores = {label: _Scores(grades[label], example_ids) for label in labels}
    models = {
        label: {
            **_model_report(scores[label], repeats=repeats, resamples=resamples, seed=seed),
            **(usage or {}).get(label, PromptUsage()).figures(),
            "prompt_variant": (prompt_variants or {}).get(label, "full"),
        }
        for label in labels
    }
    base = labels[0]
    improvement = {
        label: _improvement(scores[base], scores[label], base_label=base, resamples=resamples, seed=seed)
        for label in labels[1:]
    }
    gate = {label: _gate(models[label], models[base], improvement[label], rules) for label in labels[1:]}
    return {"models": models, "improvement": improvement, "gate": gate}
