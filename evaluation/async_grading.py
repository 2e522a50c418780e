"""The grading API's async path: `POST /api/v1/evaluations` waits on the LLM without holding a thread.

The same steps as the sync service (`evaluation_grade_start`: a grade needing no LLM at once, else a
claimed row → LLM → `evaluation_grade_finish`), the same rows and failure records; only the wait on the LLM
server differs: `agrade_with_llm` over a pooled `httpx.AsyncClient`, one per event loop. The database steps
run through `sync_to_async` (Django's one thread for sync code), each a single hop.
"""

from __future__ import annotations

import asyncio
import weakref

import httpx
from asgiref.sync import sync_to_async

from ready4hire.jobs import JobLost

from .llm.grader import agrade_with_llm
from .llm.schema import GradingRequest
from .models import Evaluation
from .selectors import evaluation_get
from .services import (
    GradeDraft,
    evaluation_fail,
    evaluation_failure_recorded,
    evaluation_grade_finish,
    evaluation_grade_start,
    evaluation_submit,
    llm_client,
    llm_grade_options,
)

# An AsyncClient's pool belongs to the event loop it was first used on: one per loop (one per ASGI worker).
_ASYNC_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _async_pool() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    pool = _ASYNC_POOLS.get(loop)
    if pool is None:
        # No cap on connections: the point of this path is many requests waiting on the LLM at once.
        pool = _ASYNC_POOLS[loop] = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=256)
        )
    return pool


def _finish(evaluation: Evaluation, draft: GradeDraft) -> Evaluation:
    try:
        with evaluation_failure_recorded(evaluation=evaluation):
            return evaluation_grade_finish(evaluation=evaluation, draft=draft)
    except JobLost:
        return evaluation_get(evaluation_id=evaluation.pk)  # the sweeper gave it to another worker


async def evaluation_submit_async(
    *, request: GradingRequest, requested_model: str = "", wait: bool = True
) -> Evaluation:
    """`evaluation_submit` for async views: grade now (`wait`), or store and queue for a worker."""
    if not wait:
        return await sync_to_async(evaluation_submit)(request=request, requested_model=requested_model, wait=False)
    evaluation, draft = await sync_to_async(evaluation_grade_start)(request=request, requested_model=requested_model)
    if draft is None:
        return evaluation
    try:
        outcome = await agrade_with_llm(
            llm_client(model=evaluation.model, async_http=_async_pool()),
            evaluation.grading_request(),
            **llm_grade_options(evaluation=evaluation),
        )
    except BaseException as exc:  # a bug, or the client hung up (cancelled): the row must not stay running
        await sync_to_async(evaluation_fail)(evaluation_id=evaluation.pk, error=f"{type(exc).__name__}: {exc}")
        raise
    draft.take_llm(outcome, evaluation_id=evaluation.pk)
    return await sync_to_async(_finish)(evaluation, draft)
