"""A/B comparisons: grade human-reviewed examples with two or more models and measure each against the
human scores; the first model is the base the others are judged against (improvement and promotion gate).

Every model gets the live prompt (`build_messages`) once per example and repeat, at LLM_TEMPERATURE with the
seed `comparison seed + repeat`, and no re-ask: a comparison measures what the model itself returns.

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
Undefined numbers (a correlation of a constant series, a ratio over zero) are null, never made up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain
from statistics import fmean, pstdev
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from evaluation.llm.clients import CLIENTS, BaseLLMClient, LLMError, OpenAICompatibleClient
from evaluation.llm.parsing import InvalidJSON, SchemaMismatch, extract_json_object, normalise_grade
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import grade_json_schema
from evaluation.models import ApiKey
from ready4hire.errors import DomainError, InvalidInput

from ..metrics import (
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
from ..models import ComparisonItem, ComparisonRun, DatasetExport, JobStatus, TrainingExample
from ..selectors.comparisons import comparison_get, export_split_example_ids
from ..selectors.examples import example_list
from ..selectors.versions import GGUF_BACKEND, model_reference_resolve
from ..text import fold_text
from .jobs import job_claim
from .serving import serve_gguf

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Requester = AbstractBaseUser | ApiKey | None

FILTER_FIELDS = ("category", "difficulty", "role", "language", "source", "min_score", "max_score")
CI_METRICS = ("qwk", "spearman", "pearson", "mae", "exact", "adjacent")
_BATCH = 25  # grades written (and progress reported) per bulk insert


# --- create ---------------------------------------------------------------------------------------------


def _contenders(models: Sequence[tuple[str, str]]) -> list[dict]:
    if len(models) < 2:
        raise InvalidInput(
            "A comparison needs at least two models: the base first, then the candidates.", field="models"
        )
    labels = [label.strip() for label, _ in models]
    if any(not label or len(label) > 100 for label in labels):
        raise InvalidInput("Every model needs a label of 1 to 100 characters.", field="models")
    if len(set(labels)) != len(labels):
        raise InvalidInput("Model labels must be unique.", field="models")
    return [model_reference_resolve(ref=ref).contender(label) for label, (_, ref) in zip(labels, models, strict=True)]


def _example_ids(*, export: DatasetExport | None, split: str, filters: dict[str, Any], limit: int | None) -> list[int]:
    """Human-reviewed (approved) examples: an export's split in the export's order, or those matching filters."""
    if export is not None:
        in_split = export_split_example_ids(export=export, split=split)
        approved = set(
            TrainingExample.objects.filter(
                pk__in=in_split, review_status=TrainingExample.ReviewStatus.APPROVED
            ).values_list("pk", flat=True)
        )
        ids = [example_id for example_id in in_split if example_id in approved]
    else:
        unknown = sorted(set(filters) - set(FILTER_FIELDS))
        if unknown:
            raise InvalidInput(
                f"Unknown example filters: {', '.join(unknown)} (use {', '.join(FILTER_FIELDS)}).", field="filters"
            )
        matching = example_list(review_status=TrainingExample.ReviewStatus.APPROVED, **filters)
        ids = list(matching.order_by("pk").values_list("pk", flat=True))
    ids = ids[:limit] if limit else ids
    if not ids:
        where = f"the {split!r} split of export {export.pk}" if export is not None else "the filters"
        raise InvalidInput(f"No human-reviewed (approved) examples in {where}: nothing to compare on.")
    return ids


def comparison_create(
    *,
    models: Sequence[tuple[str, str]],
    dataset_export_id: int | None = None,
    split: str = "val",
    filters: dict[str, Any] | None = None,
    repeats: int = 1,
    limit: int | None = None,
    seed: int | None = None,
    name: str = "",
    requested_by: Requester = None,
    start: bool = True,
) -> ComparisonRun:
    """Check and store a comparison of `models` ([(label, reference)], the base first); with `start`, queue
    it for a worker once committed. The examples are chosen now and kept on the row, so a resumed run
    grades the same set."""
    if not 1 <= repeats <= settings.COMPARISON_MAX_REPEATS:
        raise InvalidInput(f"repeats must be between 1 and {settings.COMPARISON_MAX_REPEATS}.", field="repeats")
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1.", field="limit")
    if dataset_export_id is not None and filters:
        raise InvalidInput("Compare on a dataset export or on example filters, not both.", field="filters")
    contenders = _contenders(models)
    export = None
    if dataset_export_id is not None:
        export = DatasetExport.objects.filter(pk=dataset_export_id).first()
        if export is None:
            raise InvalidInput(f"Dataset export {dataset_export_id} does not exist.", field="dataset_id")
    filters = dict(filters or {})
    ids = _example_ids(export=export, split=split, filters=filters, limit=limit)
    run = ComparisonRun.objects.create(
        name=name.strip()[:200] or " vs ".join(contender["label"] for contender in contenders),
        dataset_export=export,
        split=split if export is not None else "",
        filters={**filters, "limit": limit, "example_ids": ids},
        contenders=contenders,
        repeats=repeats,
        seed=settings.LLM_SEED if seed is None else seed,
        requested_by=None if isinstance(requested_by, ApiKey) else requested_by,
        requested_by_key=requested_by if isinstance(requested_by, ApiKey) else None,
    )
    if start:
        from ..tasks.comparisons import comparison_run_task

        comparison_run_task.delay_on_commit(run.pk)
    return run


def comparison_create_and_run(
    *,
    models: Sequence[tuple[str, str]],
    on_progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> ComparisonRun:
    """Compare now, in this process, and return the finished run (`run.report`): the command's and the
    demo's entry point. Takes `comparison_create`'s options."""
    run = comparison_create(models=models, start=False, **options)
    return comparison_run(comparison_id=run.pk, on_progress=on_progress)


# --- run ------------------------------------------------------------------------------------------------


def _claim(comparison_id: int) -> ComparisonRun | None:
    """Move a pending or failed (or abandoned running) comparison to running; None when another worker has it
    or it is done."""
    claimed = job_claim(
        ComparisonRun.objects.filter(pk=comparison_id),
        stale_after=timedelta(minutes=settings.COMPARISON_STALE_MINUTES),
        claimable=(JobStatus.PENDING, JobStatus.FAILED),
        finished_at=None,
        error="",
    )
    return comparison_get(comparison_id=comparison_id) if claimed else None


def comparison_run(*, comparison_id: int, on_progress: Callable[[int, int], None] | None = None) -> ComparisonRun:
    """Grade every example with every model and repeat, then write the report. Safe to run twice: a finished
    comparison is returned as it is, one another worker runs is left alone, and a resumed one grades only
    what is missing. `on_progress(done, total)` follows the grades."""
    run = _claim(comparison_id)
    if run is None:
        return comparison_get(comparison_id=comparison_id)
    try:
        _grade_missing(run, on_progress)
        report = comparison_report(run=run)
    except (OperationalError, InterfaceError):
        # A database hiccup: hand the row back so the task's retry can claim it again.
        ComparisonRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING).update(status=JobStatus.PENDING)
        raise
    except Exception as exc:
        comparison_fail(
            comparison_id=run.pk, error=str(exc) if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        )
        raise
    run.report, run.gate = report, report["gate"]
    run.status, run.progress, run.finished_at = JobStatus.DONE, 100, timezone.now()
    with transaction.atomic():
        run.save(update_fields=["report", "gate", "status", "progress", "finished_at"])
    return run


def comparison_fail(*, comparison_id: int, error: str) -> None:
    """Record a final failure, so the row never stays 'running' for ever."""
    ComparisonRun.objects.filter(pk=comparison_id).exclude(status=JobStatus.DONE).update(
        status=JobStatus.FAILED, error=error[:5000], finished_at=timezone.now()
    )


def _configured_api_key(base_url: str) -> str:
    # The configured key belongs to the configured server: never send it to a server named in a reference.
    return settings.LLM_API_KEY if base_url.rstrip("/") == settings.LLM_BASE_URL.rstrip("/") else ""


@contextmanager
def _contender_client(contender: dict) -> Iterator[BaseLLMClient]:
    options = {
        "model": contender["model"],
        "timeout": settings.LLM_TIMEOUT,
        "max_retries": settings.LLM_MAX_RETRIES,
        "backoff": settings.LLM_RETRY_BACKOFF,
    }
    if contender["backend"] == GGUF_BACKEND:
        # llama.cpp serves the file on a free loopback port for as long as this model grades.
        with (
            serve_gguf(contender["gguf_path"]) as served,
            OpenAICompatibleClient(base_url=served.base_url, **{**options, "model": served.model}) as client,
        ):
            yield client
        return
    client_class = CLIENTS[contender["backend"]]
    base_url = contender["base_url"]
    with client_class(base_url=base_url, api_key=_configured_api_key(base_url), **options) as client:
        # A server that is down or lacks the model would turn every grade into a miss: say so instead.
        health = client.health()
        if not health.ok:
            raise InvalidInput(
                f"Model {contender['label']!r} ({contender['ref']}): {client.backend} server at {base_url}: "
                f"{health.detail}.",
                field="models",
            )
        yield client


def _without_nul(value: Any) -> Any:
    """PostgreSQL stores no NUL character in text or jsonb, and an untrained model can well write one."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    return value


def _grade_one(
    run: ComparisonRun, client: BaseLLMClient, label: str, example: TrainingExample, repeat: int
) -> ComparisonItem:
    item = ComparisonItem(run=run, example=example, model_label=label, repeat=repeat, human_score=example.score)
    try:
        reply = client.chat(
            build_messages(example.grading_request()),
            schema=grade_json_schema(),
            temperature=settings.LLM_TEMPERATURE,
            num_predict=settings.LLM_NUM_PREDICT,
            seed=run.seed + repeat,
        )
    except LLMError as exc:
        item.error = str(exc)[:2000]
        return item
    item.raw_output, item.latency_ms = _without_nul(reply.content), reply.latency_ms
    try:
        data = extract_json_object(reply.content)
        # Only a grade is kept as `output`: JSON of the wrong shape stays in raw_output, since it may hold
        # NaN or Infinity, which PostgreSQL's jsonb refuses.
        item.valid_json = True
        grade = normalise_grade(data)
    except (InvalidJSON, SchemaMismatch) as exc:
        item.error = str(exc)[:2000]
        return item
    item.schema_valid, item.output, item.score = True, _without_nul(grade.model_dump()), grade.score
    return item


def _grade_missing(run: ComparisonRun, on_progress: Callable[[int, int], None] | None) -> None:
    ids = run.filters.get("example_ids") or []
    by_id = TrainingExample.objects.in_bulk(ids)
    examples = [by_id[example_id] for example_id in ids if example_id in by_id]  # deleted ones drop out
    if not examples:
        raise InvalidInput("Every example of this comparison has been deleted since it was created.")
    total = len(run.contenders) * len(examples) * run.repeats
    done = set(ComparisonItem.objects.filter(run=run).values_list("model_label", "example_id", "repeat"))
    finished = len(done)

    def record(batch: list[ComparisonItem]) -> None:
        nonlocal finished
        ComparisonItem.objects.bulk_create(batch, ignore_conflicts=True)
        finished += len(batch)
        ComparisonRun.objects.filter(pk=run.pk).update(progress=min(99, finished * 100 // max(total, 1)))
        if on_progress is not None:
            on_progress(finished, total)

    for contender in run.contenders:
        label = contender["label"]
        todo = [
            (example, repeat)
            for example in examples
            for repeat in range(run.repeats)
            if (label, example.pk, repeat) not in done
        ]
        if not todo:
            continue
        with _contender_client(contender) as client:
            batch: list[ComparisonItem] = []
            for example, repeat in todo:
                batch.append(_grade_one(run, client, label, example, repeat))
                if len(batch) == _BATCH:
                    record(batch)
                    batch = []
            if batch:
                record(batch)


# --- report ---------------------------------------------------------------------------------------------


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
) -> dict[str, Any]:
    """The report from every model's grades (`grades` in contender order, the base first). Pure."""
    labels = list(grades)
    example_ids = sorted({g.example_id for model_grades in grades.values() for g in model_grades})
    scores = {label: _Scores(grades[label], example_ids) for label in labels}
    models = {label: _model_report(scores[label], repeats=repeats, resamples=resamples, seed=seed) for label in labels}
    base = labels[0]
    improvement = {
        label: _improvement(scores[base], scores[label], base_label=base, resamples=resamples, seed=seed)
        for label in labels[1:]
    }
    gate = {label: _gate(models[label], models[base], improvement[label], rules) for label in labels[1:]}
    return {"models": models, "improvement": improvement, "gate": gate}


def _graded_items(run: ComparisonRun) -> dict[str, list[GradedItem]]:
    labels = {
        example_id: label
        for example_id, label in TrainingExample.objects.filter(
            pk__in=run.filters.get("example_ids") or []
        ).values_list("pk", "label")
    }
    grades: dict[str, list[GradedItem]] = {contender["label"]: [] for contender in run.contenders}
    rows = ComparisonItem.objects.filter(run=run, example__isnull=False).values_list(
        "model_label",
        "example_id",
        "repeat",
        "human_score",
        "score",
        "valid_json",
        "schema_valid",
        "latency_ms",
        "output",
    )
    for label, example_id, repeat, human_score, score, valid_json, schema_valid, latency_ms, output in rows:
        human = labels.get(example_id) or {}
        output = output if schema_valid else {}
        grades.setdefault(label, []).append(
            GradedItem(
                example_id=example_id,
                repeat=repeat,
                human_score=human_score,
                score=score if schema_valid else None,
                valid_json=valid_json,
                latency_ms=latency_ms,
                missing_concepts=tuple(output.get("missing_concepts") or ()),
                justification=str(output.get("justification") or ""),
                human_missing_concepts=tuple(human["missing_concepts"]) if "missing_concepts" in human else None,
                human_justification=human.get("justification"),
            )
        )
    return grades


def comparison_report(*, run: ComparisonRun) -> dict[str, Any]:
    """The report of a comparison's recorded grades, with the gate rules and bootstrap size from settings."""
    return comparison_report_build(
        _graded_items(run),
        repeats=run.repeats,
        resamples=settings.COMPARISON_BOOTSTRAP_RESAMPLES,
        seed=run.seed,
        rules=GateRules.from_settings(),
    )


# --- the table the command and the demo print -------------------------------------------------------------

TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("valid JSON", "valid_json_rate", "pct"),
    ("schema-valid", "schema_valid_rate", "pct"),
    ("QWK", "qwk", "num"),
    ("MAE", "mae", "num"),
    ("Spearman", "spearman", "num"),
    ("exact", "exact", "pct"),
    ("±1", "adjacent", "pct"),
    ("p50 ms", "latency_p50_ms", "int"),
)


def _cell(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    return {"pct": f"{value:.1%}", "num": f"{value:.3f}", "int": f"{value:.0f}"}[kind]


def comparison_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table, one row per model, then each candidate's improvement and gate."""
    header = ["model", *(title for title, _, _ in TABLE_COLUMNS)]
    rows = [
        [label, *(_cell(figures.get(key), kind) for _, key, kind in TABLE_COLUMNS)]
        for label, figures in report["models"].items()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    for label, improvement in report["improvement"].items():
        qwk, mae = improvement["qwk"], improvement["mae"]
        low, high = qwk["relative_ci"]
        relative = "—" if qwk["relative"] is None else f"{qwk['relative']:+.1%}"
        interval = "" if low is None else f" [95% CI {low:+.1%}, {high:+.1%}]"
        mae_relative = "—" if mae["relative"] is None else f"{mae['relative']:+.1%}"
        lines.append(f"{label} vs {improvement['over']}: QWK {relative}{interval}, MAE reduction {mae_relative}")
        gate = report["gate"][label]
        lines.append(f"  gate {'passed' if gate['passed'] else 'FAILED'}: {'; '.join(gate['reasons'])}")
    return "\n".join(lines)
