"""Reads of evaluations: one by id, a cached one by its cache key, and the filtered lists the API pages."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from ready4hire.errors import NotFound

from .models import Evaluation


def evaluation_get(*, evaluation_id: int) -> Evaluation:
    try:
        return Evaluation.objects.get(pk=evaluation_id)
    except Evaluation.DoesNotExist:
        raise NotFound(f"Evaluation {evaluation_id} does not exist.", field="id") from None


def evaluation_cached_get(*, cache_key: str, ttl_seconds: int) -> Evaluation | None:
    """The newest LLM grade of the same request within the TTL, from any worker (the table is the cache).

    Heuristic grades are not cached: they are cheap, and caching them would hide the LLM once it is back.
    """
    if ttl_seconds <= 0:
        return None
    return (
        Evaluation.objects.filter(
            cache_key=cache_key,
            status=Evaluation.Status.DONE,
            source=Evaluation.Source.LLM,
            finished_at__gte=timezone.now() - timedelta(seconds=ttl_seconds),
        )
        .order_by("-finished_at")
        .only("result", "raw_result", "score", "model", "raw_output", "source")
        .first()
    )


def evaluation_list(
    *,
    status: str | None = None,
    source: str | None = None,
    category: str | None = None,
    difficulty: str | None = None,
    language: str | None = None,
    model: str | None = None,
) -> QuerySet[Evaluation]:
    """Evaluations matching every given filter, newest first."""
    filters = {
        "status": status,
        "source": source,
        "category": category,
        "difficulty": difficulty,
        "language": language,
        "model": model,
    }
    return Evaluation.objects.filter(**{k: v for k, v in filters.items() if v is not None}).order_by(
        "-created_at", "-id"
    )
