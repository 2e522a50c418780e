"""Grading services: submit a request, run it (cache → LLM → validate → fallback → store), and report health."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from ready4hire.errors import Conflict, InvalidInput
from training.selectors.versions import model_for_category
from training.services import example_collect_from_evaluation

from .llm.cache import grading_cache_key
from .llm.clients import CLIENTS, BaseLLMClient, HealthStatus
from .llm.grader import grade_with_llm
from .llm.heuristic import HEURISTIC_MODEL_NAME, heuristic_grade
from .llm.schema import PROMPT_VERSION, GradingRequest
from .models import ApiKey, Evaluation, Question
from .selectors import evaluation_cached_get, evaluation_get

logger = logging.getLogger(__name__)

RAW_OUTPUT_SEPARATOR = "\n\n--- re-ask ---\n\n"


def llm_enabled() -> bool:
    return settings.LLM_BACKEND in CLIENTS


@functools.cache
def _shared_http() -> httpx.Client:
    # One pooled HTTP client per process: building one loads the CA bundle (~17 ms) and opens new
    # connections, which a per-request client would pay on every grade.
    return httpx.Client(limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))


def llm_client(*, model: str | None = None) -> BaseLLMClient:
    """A client for the configured LLM server; settings are read here, at call time, never at import."""
    client_class = CLIENTS[settings.LLM_BACKEND]
    return client_class(
        http=_shared_http(),
        base_url=settings.LLM_BASE_URL,
        model=model or settings.LLM_MODEL,
        timeout=settings.LLM_TIMEOUT,
        max_retries=settings.LLM_MAX_RETRIES,
        backoff=settings.LLM_RETRY_BACKOFF,
        api_key=settings.LLM_API_KEY,
    )


def _grading_model(requested_model: str, category: str) -> str:
    """The model asked for, else the active version for the category (the router), else the default."""
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
    temperature = settings.LLM_TEMPERATURE if llm_enabled() else 0.0
    model = _grading_model(requested_model, request.category)
    evaluation = Evaluation.objects.create(
        # A request graded now is created already claimed: no other worker can see it before it is done.
        status=Evaluation.Status.RUNNING if wait else Evaluation.Status.PENDING,
        started_at=timezone.now() if wait else None,
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
        prompt_version=PROMPT_VERSION,
        temperature=temperature,
        cache_key=grading_cache_key(request=request, model=model, temperature=temperature),
    )
    if wait:
        return _grade_claimed(evaluation)
    from .tasks import evaluation_run_task

    evaluation_run_task.delay_on_commit(evaluation.pk)
    return evaluation


def _claim(evaluation_id: int) -> Evaluation | None:
    """Move a pending (or abandoned running) evaluation to running; None when another worker has it or it is done."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.LLM_TIMEOUT * (settings.LLM_MAX_RETRIES + 1) * 2 + 60)
    claimed = Evaluation.objects.filter(pk=evaluation_id, status=Evaluation.Status.PENDING).update(
        status=Evaluation.Status.RUNNING, started_at=now
    ) or Evaluation.objects.filter(
        pk=evaluation_id, status=Evaluation.Status.RUNNING, started_at__lt=stale_before
    ).update(started_at=now)
    return evaluation_get(evaluation_id=evaluation_id) if claimed else None


def evaluation_run(*, evaluation_id: int) -> Evaluation:
    """Grade a stored request: cache → LLM → validate → fallback → store and collect, in one transaction.

    Safe to call twice: a finished evaluation is returned as it is, and one another worker is running is
    left alone.
    """
    evaluation = _claim(evaluation_id)
    if evaluation is None:
        return evaluation_get(evaluation_id=evaluation_id)
    return _grade_claimed(evaluation)


def _grade_claimed(evaluation: Evaluation) -> Evaluation:
    try:
        return _grade_and_store(evaluation)
    except (OperationalError, InterfaceError):
        # A database hiccup: hand the row back so the task's retry can claim it again.
        Evaluation.objects.filter(pk=evaluation.pk, status=Evaluation.Status.RUNNING).update(
            status=Evaluation.Status.PENDING
        )
        raise
    except Exception as exc:
        evaluation_fail(evaluation_id=evaluation.pk, error=f"{type(exc).__name__}: {exc}")
        raise


def _grade_and_store(evaluation: Evaluation) -> Evaluation:
    started = time.perf_counter()
    request = evaluation.grading_request()
    llm_errors: list[str] = []
    raw_outputs: list[str] = []
    attempts = 0
    result = None
    source = Evaluation.Source.HEURISTIC
    model = evaluation.model

    cached = (
        evaluation_cached_get(cache_key=evaluation.cache_key, ttl_seconds=settings.GRADING_CACHE_TTL)
        if llm_enabled()
        else None
    )
    if cached is not None:
        evaluation.from_cache = True
        result, source, model = cached.result, Evaluation.Source.LLM, cached.model
        raw_outputs = [cached.raw_output] if cached.raw_output else []
    elif llm_enabled():
        with llm_client(model=evaluation.model) as client:
            outcome = grade_with_llm(
                client,
                request,
                temperature=evaluation.temperature,
                num_predict=settings.LLM_NUM_PREDICT,
                seed=settings.LLM_SEED,
            )
        attempts, raw_outputs, llm_errors = outcome.attempts, outcome.raw_outputs, outcome.errors
        if outcome.result is not None:
            result, source = outcome.result.model_dump(), Evaluation.Source.LLM
        else:
            logger.warning("LLM grading of evaluation %s failed, using the heuristic: %s", evaluation.pk, outcome.error)

    if result is None:
        result = heuristic_grade(request).model_dump()
        model = HEURISTIC_MODEL_NAME if not llm_enabled() else model

    evaluation.result = result
    evaluation.score = result["score"]
    evaluation.source = source
    evaluation.model = model if source == Evaluation.Source.LLM else HEURISTIC_MODEL_NAME
    evaluation.raw_output = RAW_OUTPUT_SEPARATOR.join(raw_outputs)
    evaluation.error = " | ".join(llm_errors)
    evaluation.attempts = attempts
    evaluation.latency_ms = round((time.perf_counter() - started) * 1000)
    evaluation.status = Evaluation.Status.DONE
    evaluation.finished_at = timezone.now()
    with transaction.atomic():
        evaluation.save(
            update_fields=[
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
            ]
        )
        example_collect_from_evaluation(evaluation=evaluation)
    return evaluation


def evaluation_fail(*, evaluation_id: int, error: str) -> None:
    """Record a final failure (the task gave up), so the row never stays 'running' for ever."""
    Evaluation.objects.filter(pk=evaluation_id).exclude(status=Evaluation.Status.DONE).update(
        status=Evaluation.Status.FAILED, error=error[:5000], finished_at=timezone.now()
    )


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


def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """Create an API key; the raw key is returned once and only its hash is stored."""
    name = name.strip()
    if not name:
        raise InvalidInput("An API key needs a name.", field="name")
    if ApiKey.objects.filter(name=name).exists():
        raise Conflict(f"An API key named {name!r} already exists.", field="name")
    raw_key = ApiKey.generate_raw_key()
    key = ApiKey.objects.create(name=name, key_prefix=raw_key[:10], key_hash=ApiKey.hash_key(raw_key))
    return key, raw_key
