from __future__ import annotations

from datetime import timedelta

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
        .only("result", "score", "model", "raw_output", "source")
        .first()
    )
