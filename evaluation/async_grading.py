"""The grading API's async path: `POST /api/v1/evaluations` waits on the LLM without holding a thread.

The same steps as the sync service (`evaluation_grade_start`: a grade needing no LLM at once, else a
claimed row → LLM → `evaluation_grade_finish`), the same rows and failure records; only the wait on the LLM
server differs: `agrade_with_llm` over pooled `httpx.AsyncClient`s of the event loop. The database steps
run through `sync_to_async` (Django's one thread for sync code), each a single hop, and no database
server connection is held while the LLM answers.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

import httpx
from asgiref.sync import sync_to_async
from django.db import connection

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

# Connections per AsyncClient. httpcore's pool looks at every one of its connections (a poll() of each idle
# socket) on each request and each response, so one pool of hundreds of connections costs more CPU per grade
# than the rest of the request; several small pools, each taking a request only while it has a free
# connection, keep that scan short and still never make a request wait for one.
POOL_CONNECTIONS = 8
T = TypeVar("T")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # loading the CA bundle takes tens of ms: once, not once per pool


class _Pools:
    """The LLM connection pools of one event loop (an AsyncClient belongs to the loop it was first used on)."""

    def __init__(self) -> None:
        self.clients: list[httpx.AsyncClient] = []
        self.in_flight: list[int] = []

    @contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        index = next((i for i, n in enumerate(self.in_flight) if n < POOL_CONNECTIONS), len(self.clients))
        if index == len(self.clients):
            limits = httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS)
            self.clients.append(httpx.AsyncClient(limits=limits, verify=_ssl_context()))
            self.in_flight.append(0)
        self.in_flight[index] += 1
        try:
            yield self.clients[index]
        finally:
            self.in_flight[index] -= 1


_ASYNC_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pools] = weakref.WeakKeyDictionary()


def _async_pool() -> AbstractContextManager[httpx.AsyncClient]:
    """A pooled AsyncClient with a free connection, for the length of one LLM call (no cap on their number:
    the point of this path is many requests waiting on the LLM at once)."""
    loop = asyncio.get_running_loop()
    pools = _ASYNC_POOLS.get(loop)
    if pools is None:
        pools = _ASYNC_POOLS[loop] = _Pools()
    return pools.lease()


# Database steps of this path one process runs at once. Under ASGI each request has its own thread, so
# without a bound a burst of requests opens as many database connections as there are requests in it
# (PostgreSQL allows 100 by default); the steps share one interpreter lock anyway.
DB_STEPS_AT_ONCE = 8
_DB_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _released(function: Callable[..., T], *args: object, **kwargs: object) -> T:
    try:
        return function(*args, **kwargs)
    finally:
        # The request may now wait seconds on the LLM, and its connection would sit idle all the while. Closed
        # whatever CONN_MAX_AGE says: under ASGI each request has a thread of its own, so a connection kept
        # here could only ever serve this request again. With DATABASE_POOL on, closing hands it back to the
        # process's pool (Django's postgresql backend `_close`: `putconn`), where the next step of any request
        # takes it. Not SQLite's, a file handle in this process that costs nothing to keep and a schema read
        # to reopen.
        if connection.vendor != "sqlite" and not connection.in_atomic_block:
            connection.close()


async def _db_step(function: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`function` in Django's thread for sync code, among at most DB_STEPS_AT_ONCE of this process's steps,
    holding no database server connection once it returns."""
    loop = asyncio.get_running_loop()
    slots = _DB_SLOTS.get(loop)
    if slots is None:
        slots = _DB_SLOTS[loop] = asyncio.Semaphore(DB_STEPS_AT_ONCE)
    async with slots:
        return await sync_to_async(_released)(function, *args, **kwargs)


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
        return await _db_step(evaluation_submit, request=request, requested_model=requested_model, wait=False)
    evaluation, draft = await _db_step(evaluation_grade_start, request=request, requested_model=requested_model)
    if draft is None:
        return evaluation
    try:
        with _async_pool() as http:
            outcome = await agrade_with_llm(
                llm_client(model=evaluation.model, async_http=http),
                evaluation.grading_request(),
                **llm_grade_options(evaluation=evaluation),
            )
    except BaseException as exc:  # a bug, or the client hung up (cancelled): the row must not stay running
        await _db_step(evaluation_fail, evaluation_id=evaluation.pk, error=f"{type(exc).__name__}: {exc}")
        raise
    draft.take_llm(outcome, evaluation_id=evaluation.pk)
    return await _db_step(_finish, evaluation, draft)
