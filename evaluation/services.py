"""Grading services: submit a request, run it (cache → LLM → validate → fallback → store), and report health."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from ready4hire import metrics
from ready4hire.errors import Conflict, InvalidInput
from ready4hire.jobs import (
    JobKind,
    JobLimits,
    JobLost,
    job_claim,
    job_dispatch_on_commit,
    job_fail,
    job_heartbeat_start,
    job_heartbeat_stop,
    job_start_claimed,
)
from ready4hire.ratelimit import grading_backlog_check
from training.selectors.model_names import requested_model_resolve
from training.selectors.versions import model_for_category, model_prompt_variant
from training.services import example_collect_from_evaluation
from training.services.calibration import calibration_apply

from .choices import PromptVariant
from .llm.cache import grading_cache_key
from .llm.clients import CLIENTS, BaseLLMClient, HealthStatus
from .llm.grader import LLMGrade, grade_with_llm
from .llm.heuristic import HEURISTIC_MODEL_NAME, heuristic_grade
from .llm.prompts import prompt_variant_of, prompt_version_for
from .llm.schema import GradingRequest
from .models import ApiKey, Evaluation, Question, default_scopes
from .selectors import evaluation_cached_get, evaluation_get

logger = logging.getLogger(__name__)

RAW_OUTPUT_SEPARATOR = "\n\n--- re-ask ---\n\n"


def llm_enabled() -> bool:
    return settings.LLM_BACKEND in CLIENTS


@functools.cache
def _shared_http() -> httpx.Client:
    # One pooled HTTP client per process: building one loads the CA bundle (~17 ms) and opens new
    # connections, which a per-request client would pay on every grade. No cap on connections: batches
    # bound their own concurrency (LLM_CONCURRENCY, up to 256), and a cap below it would queue their calls.
    return httpx.Client(limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))


def llm_client(*, model: str | None = None, async_http: httpx.AsyncClient | None = None) -> BaseLLMClient:
    """A client for the configured LLM server; settings are read here, at call time, never at import.
    `async_http` is the pool its `achat` uses (the async API path)."""
    client_class = CLIENTS[settings.LLM_BACKEND]
    return client_class(
        http=_shared_http(),
        async_http=async_http,
        base_url=settings.LLM_BASE_URL,
        model=model or settings.LLM_MODEL,
        timeout=settings.LLM_TIMEOUT,
        max_retries=settings.LLM_MAX_RETRIES,
        backoff=settings.LLM_RETRY_BACKOFF,
        api_key=settings.LLM_API_KEY,
    )


def _grading_model(requested_model: str, category: str) -> str:
    """The model asked for, else the active version for the category (the router), else the default."""
    requested_model = requested_model and requested_model_resolve(model=requested_model)
    if not llm_enabled():
        return HEURISTIC_MODEL_NAME
    return requested_model or model_for_category(category) or settings.LLM_MODEL


def evaluation_submit(
    *,
    request: GradingRequest,
    requested_model: str = "",
    question: Question | None = None,
    wait: bool = True,
) -> Evaluation:
    """Store a grading request; grade it now (`wait`) or queue it for a worker once the row is committed."""
    if wait:
        evaluation, draft = evaluation_grade_start(request=request, requested_model=requested_model, question=question)
        return evaluation if draft is None else _grade_claimed(evaluation, draft)
    grading_backlog_check()  # 429 before anything is stored while too many grades wait for a worker
    evaluation = evaluation_create(request=request, requested_model=requested_model, question=question, wait=wait)
    job_dispatch_on_commit(EVALUATION_JOB, evaluation.pk)
    return evaluation


def evaluation_grade_start(
    *, request: GradingRequest, requested_model: str = "", question: Question | None = None
) -> tuple[Evaluation, GradeDraft | None]:
    """Start grading a request now. One that needs no LLM call (a cached grade; the heuristic when no LLM is
    configured) is stored finished by one insert in one commit, with no draft: the cache-hit path, where a
    row created running and then finished would cost a second write and commit. Otherwise the row is stored
    claimed (running, heartbeating) and comes with the draft the LLM step completes (`_grade_claimed`, or
    the async path's `agrade_with_llm`)."""
    evaluation = evaluation_build(request=request, requested_model=requested_model, question=question)
    draft = _draft_from_cache(evaluation)
    if not draft.needs_llm:
        return evaluation_grade_finish(evaluation=evaluation, draft=draft), None
    evaluation.save(force_insert=True)
    job_heartbeat_start(EVALUATION_JOB, evaluation)
    return evaluation, draft


def evaluation_create(
    *, request: GradingRequest, requested_model: str = "", question: Question | None = None, wait: bool = True
) -> Evaluation:
    """Store a grading request: claimed (running) when it is graded now (`wait`), else pending for a worker."""
    evaluation = evaluation_build(request=request, requested_model=requested_model, question=question, wait=wait)
    evaluation.save(force_insert=True)
    return evaluation


def evaluation_build(
    *,
    request: GradingRequest,
    requested_model: str = "",
    question: Question | None = None,
    wait: bool = True,
    model: str | None = None,
) -> Evaluation:
    """`evaluation_create`'s row, unsaved (a batch inserts many at once); `model` skips resolving the model
    again when the caller already has it for this requested model and category."""
    temperature = settings.LLM_TEMPERATURE if llm_enabled() else 0.0
    model = model or _grading_model(requested_model, request.category)
    # A fine-tuned version is sent the prompt it was trained with; the row records it in its prompt version,
    # so a worker (or the async path) grading the row later sends the same one.
    prompt_variant = model_prompt_variant(model) if llm_enabled() else PromptVariant.FULL
    now = timezone.now()
    return Evaluation(
        # A request graded now is created already claimed: no other worker can see it before it is done.
        status=Evaluation.Status.RUNNING if wait else Evaluation.Status.PENDING,
        started_at=now if wait else None,
        heartbeat_at=now if wait else None,
        job_attempts=1 if wait else 0,
        question=question,
        question_text=request.question,
        answer=request.answer,
        expected_concepts=list(request.expected_concepts),
        keywords=list(request.keywords),
        category=request.category,
        difficulty=request.difficulty,
        role=request.role,
        language=request.language,
        requested_model=requested_model,
        model=model,
        prompt_version=prompt_version_for(prompt_variant),
        temperature=temperature,
        cache_key=grading_cache_key(
            request=request, model=model, temperature=temperature, prompt_variant=prompt_variant
        ),
    )


def _evaluation_limits() -> JobLimits:
    # A grade runs at most every LLM attempt of the first ask and of the re-ask; its heartbeat comes from the
    # process's heartbeat thread, so a worker that died is noticed within a minute and a half.
    return JobLimits(
        max_runtime=settings.LLM_TIMEOUT * (settings.LLM_MAX_RETRIES + 1) * 2 + 60, stale_after=90, max_attempts=3
    )


EVALUATION_JOB = JobKind(
    name="evaluation",
    model="evaluation.Evaluation",
    task="evaluation.tasks.evaluation_run_task",
    limits=_evaluation_limits,
)


def _claim(evaluation_id: int) -> Evaluation | None:
    """Move a pending (or abandoned running) evaluation to running; None when another worker has it or it is done."""
    claim = job_claim(EVALUATION_JOB, evaluation_id)
    return claim.row if claim else None


def evaluation_run(*, evaluation_id: int) -> Evaluation:
    """Grade a stored request: cache → LLM → validate → fallback → store and collect, in one transaction.

    Safe to call twice: a finished evaluation is returned as it is, and one another worker is running is
    left alone.
    """
    evaluation = _claim(evaluation_id)
    if evaluation is None:
        return evaluation_get(evaluation_id=evaluation_id)
    return _grade_claimed(evaluation)


def _grade_claimed(evaluation: Evaluation, draft: GradeDraft | None = None) -> Evaluation:
    try:
        with evaluation_failure_recorded(evaluation=evaluation):
            return _grade_and_store(evaluation, draft)
    except JobLost:
        return evaluation_get(evaluation_id=evaluation.pk)  # the sweeper gave it to another worker


@contextmanager
def evaluation_failure_recorded(*, evaluation: Evaluation) -> Iterator[None]:
    """Around the grading of a claimed evaluation: an error is recorded on the row, then raised."""
    try:
        yield
    except (OperationalError, InterfaceError):
        # A database outage: hand the row back (a task's retry or the sweeper grades it again), else the
        # sweeper takes it back once its heartbeat is stale; either way it ends done or failed.
        job_start_claimed(EVALUATION_JOB, evaluation).release()
        raise
    except JobLost:
        raise
    except Exception as exc:
        evaluation_fail(evaluation_id=evaluation.pk, error=f"{type(exc).__name__}: {exc}")
        raise


def _grade_and_store(evaluation: Evaluation, draft: GradeDraft | None = None) -> Evaluation:
    draft = draft or evaluation_grade_begin(evaluation=evaluation)
    if draft.needs_llm:
        with llm_client(model=evaluation.model) as client:
            outcome = grade_with_llm(client, evaluation.grading_request(), **llm_grade_options(evaluation=evaluation))
        draft.take_llm(outcome, evaluation_id=evaluation.pk)
    return evaluation_grade_finish(evaluation=evaluation, draft=draft)


@dataclass
class GradeDraft:
    """A claimed evaluation's grade in the making: what the cache or the LLM gave, before it is stored.

    Grading is three steps so that the LLM call in the middle can run elsewhere (a batch's worker thread,
    the async API path) while the database steps stay where the connection is."""

    started: float
    model: str
    needs_llm: bool = False
    result: dict | None = None
    source: str = Evaluation.Source.HEURISTIC
    attempts: int = 0
    raw_outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def take_llm(self, outcome: LLMGrade, *, evaluation_id: int | None) -> None:
        self.attempts, self.raw_outputs, self.errors = outcome.attempts, outcome.raw_outputs, outcome.errors
        if outcome.result is not None:
            self.result, self.source = outcome.result.model_dump(), Evaluation.Source.LLM
        else:
            logger.warning("LLM grading of evaluation %s failed, using the heuristic: %s", evaluation_id, outcome.error)


def llm_grade_options(*, evaluation: Evaluation) -> dict:
    """How every path (this module's, the async API's, a batch's) asks the LLM for the row's grade."""
    return {
        "temperature": evaluation.temperature,
        "num_predict": settings.LLM_NUM_PREDICT,
        "seed": settings.LLM_SEED,
        "prompt_variant": prompt_variant_of(evaluation.prompt_version),
    }


def evaluation_grade_begin(*, evaluation: Evaluation) -> GradeDraft:
    """Step 1: a cached grade when there is one; otherwise the draft says whether the LLM is to be asked.
    From here to step 3 the row heartbeats, however long the LLM takes, so the sweeper leaves it alone."""
    job_heartbeat_start(EVALUATION_JOB, evaluation)
    return _draft_from_cache(evaluation)


def _draft_from_cache(evaluation: Evaluation) -> GradeDraft:
    draft = GradeDraft(started=time.perf_counter(), model=evaluation.model)
    if not llm_enabled():
        return draft
    cached = evaluation_cached_get(cache_key=evaluation.cache_key, ttl_seconds=settings.GRADING_CACHE_TTL)
    if cached is None:
        draft.needs_llm = True
        return draft
    evaluation.from_cache = True
    draft.result, draft.source, draft.model = cached.raw_result or cached.result, Evaluation.Source.LLM, cached.model
    draft.raw_outputs = [cached.raw_output] if cached.raw_output else []
    return draft


def evaluation_grade_finish(*, evaluation: Evaluation, draft: GradeDraft) -> Evaluation:
    """Step 3: fall back to the heuristic when nothing graded it, then store and collect in one transaction."""
    job_heartbeat_stop(EVALUATION_JOB, evaluation.pk)
    result, model = draft.result, draft.model
    if result is None:
        result = heuristic_grade(evaluation.grading_request()).model_dump()
        model = HEURISTIC_MODEL_NAME if not llm_enabled() else model

    evaluation.result = result
    evaluation.score = result["score"]
    evaluation.source = draft.source
    evaluation.model = model if draft.source == Evaluation.Source.LLM else HEURISTIC_MODEL_NAME
    # The active calibration of the grader and category maps the score; the grader's own grade stays beside it.
    evaluation.raw_score, evaluation.raw_result = result["score"], None
    calibrated, evaluation.calibration = calibration_apply(
        grader=evaluation.model, category=evaluation.category, result=result
    )
    if evaluation.calibration is not None:
        evaluation.result, evaluation.raw_result, evaluation.score = calibrated, result, calibrated["score"]
    evaluation.raw_output = RAW_OUTPUT_SEPARATOR.join(draft.raw_outputs)
    evaluation.error = " | ".join(draft.errors)
    evaluation.attempts = draft.attempts
    evaluation.latency_ms = round((time.perf_counter() - draft.started) * 1000)
    evaluation.status = Evaluation.Status.DONE
    evaluation.finished_at = timezone.now()
    with transaction.atomic():
        if evaluation.pk is None:  # graded before it was stored (evaluation_grade_start): nothing to claim
            evaluation.save(force_insert=True)
        else:
            # Written only while the row is still this claim's (JobLost otherwise: the sweeper took it back).
            job_start_claimed(EVALUATION_JOB, evaluation).save(
                "result",
                "score",
                "source",
                "model",
                "raw_output",
                "error",
                "attempts",
                "latency_ms",
                "status",
                "finished_at",
                "from_cache",
                "raw_score",
                "raw_result",
                "calibration",
            )
        example_collect_from_evaluation(evaluation=evaluation)
    metrics.grade_finished(evaluation, llm_asked=draft.needs_llm)
    return evaluation


def evaluation_fail(*, evaluation_id: int, error: str) -> None:
    """Record a final failure (the task gave up), so the row never stays 'running' for ever."""
    job_fail(EVALUATION_JOB, evaluation_id, error=error)


@dataclass(frozen=True)
class ComponentStatus:
    ok: bool
    detail: str


def _database_status() -> ComponentStatus:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return ComponentStatus(True, connection.vendor)
    except Exception as exc:  # any driver error means "down" here
        return ComponentStatus(False, f"{type(exc).__name__}: {exc}"[:200])


def _broker_status() -> ComponentStatus:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return ComponentStatus(True, "no broker configured: tasks run eagerly in the web process")
    from ready4hire.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return ComponentStatus(True, "reachable")
    except Exception as exc:  # kombu raises many transport-specific errors
        return ComponentStatus(False, f"{type(exc).__name__}: {exc}"[:200])


def _llm_status() -> HealthStatus:
    if not llm_enabled():
        return HealthStatus(ok=False, detail="no LLM configured (LLM_BACKEND=none): grades come from the heuristic")
    with llm_client() as client:
        return client.health()


def system_health() -> dict:
    database, broker, llm = _database_status(), _broker_status(), _llm_status()
    status = "down" if not database.ok else ("ok" if broker.ok and llm.ok else "degraded")
    return {
        "status": status,
        "database": {"ok": database.ok, "detail": database.detail},
        "broker": {"ok": broker.ok, "detail": broker.detail},
        "llm": {
            "ok": llm.ok,
            "detail": llm.detail,
            "backend": settings.LLM_BACKEND,
            "base_url": settings.LLM_BASE_URL,
            "model": settings.LLM_MODEL if llm_enabled() else HEURISTIC_MODEL_NAME,
        },
    }


def api_key_create(
    *, name: str, scopes: Iterable[str] | None = None, username: str | None = None
) -> tuple[ApiKey, str]:
    """Create an API key (`grade` only unless `scopes` say more; bound to `username` when given); the raw key
    is returned once and only its hash is stored."""
    name = name.strip()
    if not name:
        raise InvalidInput("An API key needs a name.", field="name")
    chosen = list(dict.fromkeys(scope.strip() for scope in scopes or () if scope.strip())) or default_scopes()
    unknown = [scope for scope in chosen if scope not in ApiKey.Scope.values]
    if unknown:
        raise InvalidInput(
            f"Unknown scope {', '.join(map(repr, unknown))}; choose from {', '.join(ApiKey.Scope.values)}.",
            field="scopes",
        )
    user = None
    if username is not None:
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise InvalidInput(f"There is no user {username!r}.", field="user")
    if ApiKey.objects.filter(name=name).exists():
        raise Conflict(f"An API key named {name!r} already exists.", field="name")
    raw_key = ApiKey.generate_raw_key()
    key = ApiKey.objects.create(
        name=name, key_prefix=raw_key[:10], key_hash=ApiKey.hash_key(raw_key), scopes=chosen, user=user
    )
    return key, raw_key
