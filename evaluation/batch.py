"""Keeping the LLM server busy: run a batch of independent calls N at a time (`LLM_CONCURRENCY`).

`batch_map` is the one primitive behind batch grading (`evaluate --file`, the demo's practice set),
comparisons and validation probes. Each item's call runs in one of N worker threads; its outcome (value or
exception) is handed to `on_done` in the *calling* thread, so database writes, progress bars and job
progress stay on the thread that owns the transaction; the list returned keeps the input order. A failing
item is recorded as its own outcome and never stops the others.

Threads, not asyncio: the calls are the existing synchronous clients over a shared, thread-safe
`httpx.Client` pool, and the work between two requests is small next to an LLM's latency.
"""

from __future__ import annotations

import argparse
import queue
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connections

from ready4hire.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")

MAX_CONCURRENCY = 256  # the bound settings.LLM_CONCURRENCY is checked against too


def concurrency_checked(value: int | None) -> int:
    """`value`, or LLM_CONCURRENCY when None, refused unless 1 ≤ value ≤ MAX_CONCURRENCY."""
    value = settings.LLM_CONCURRENCY if value is None else value
    if not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidInput(f"concurrency must be between 1 and {MAX_CONCURRENCY} (got {value}).", field="concurrency")
    return value


def concurrency_argument(text: str) -> int:
    """argparse `type=` for `--concurrency N`: a bad value is a usage error before anything runs."""
    try:
        return concurrency_checked(int(text))
    except (ValueError, InvalidInput):
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_CONCURRENCY}, got {text!r}") from None


def add_concurrency_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=concurrency_argument,
        metavar="N",
        help=f"LLM requests kept in flight (1-{MAX_CONCURRENCY}; default LLM_CONCURRENCY).",
    )


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What one item's call gave: its value, or the exception it raised."""

    index: int
    value: R | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def in_input_order(on_item: Callable[[Outcome[R]], None]) -> Callable[[Outcome[R]], None]:
    """An `on_done` that hands outcomes to `on_item` in input order (each as soon as all before it are in),
    for writers whose output must read as the sequential run's: result files, rows inserted in order."""
    waiting: dict[int, Outcome[R]] = {}
    next_index = 0

    def on_done(outcome: Outcome[R]) -> None:
        nonlocal next_index
        waiting[outcome.index] = outcome
        while next_index in waiting:
            on_item(waiting.pop(next_index))
            next_index += 1

    return on_done


def _attempt(call: Callable[[T], R], index: int, item: T) -> Outcome[R]:
    try:
        return Outcome(index, value=call(item))
    except Exception as exc:  # one item's failure is that item's outcome, never the batch's
        return Outcome(index, error=exc)


def batch_map(
    call: Callable[[T], R],
    items: Iterable[T],
    *,
    concurrency: int | None = None,
    on_done: Callable[[Outcome[R]], None] | None = None,
    group: Callable[[], AbstractContextManager[Any]] | None = None,
) -> list[Outcome[R]]:
    """Run `call(item)` for every item, at most `concurrency` at a time (default LLM_CONCURRENCY).

    `items` is read lazily, in the calling thread, one item per free worker: a generator may do each
    item's preparation there (database reads, say) just before it is needed, so the first calls start at
    once. `on_done(outcome)` runs in the calling thread as each item finishes (completion order); an
    exception from it, or from `items`, stops the batch: no new item starts, the running ones finish, and
    it is raised. With a concurrency of 1 every call runs in the calling thread, as a plain loop would.

    `group()` (e.g. `transaction.atomic`) wraps each run of `on_done` calls made together: every outcome
    that is ready when the calling thread gets to them. Where a commit is slow (SQLite's fsync), the
    outcomes that arrive meanwhile share the next one, instead of each waiting for its own.
    """
    limit = concurrency_checked(concurrency)
    outcomes: list[Outcome[R]] = []
    grouped = group if group is not None else nullcontext
    if limit == 1:
        for index, item in enumerate(items):
            outcomes.append(_attempt(call, index, item))
            with grouped():
                if on_done is not None:
                    on_done(outcomes[-1])
        return outcomes

    todo: queue.SimpleQueue[tuple[int, T] | None] = queue.SimpleQueue()
    finished: queue.SimpleQueue[Outcome[R]] = queue.SimpleQueue()

    def worker() -> None:
        try:
            while (job := todo.get()) is not None:
                finished.put(_attempt(call, *job))
        finally:
            # A worker thread that touched the ORM holds its own connections; nothing else would close them.
            connections.close_all()

    threads: list[threading.Thread] = []
    source = enumerate(items)
    by_index: dict[int, Outcome[R]] = {}
    in_flight, exhausted = 0, False
    try:
        while True:
            while not exhausted and in_flight < limit:
                job = next(source, None)
                if job is None:
                    exhausted = True
                    break
                if len(threads) <= in_flight:  # threads start as work arrives, never more than the limit
                    threads.append(threading.Thread(target=worker, name=f"llm-batch-{len(threads)}", daemon=True))
                    threads[-1].start()
                todo.put(job)
                in_flight += 1
            if in_flight == 0:
                break
            ready = [finished.get()]
            while not finished.empty():
                ready.append(finished.get_nowait())
            in_flight -= len(ready)
            with grouped():
                for outcome in ready:
                    by_index[outcome.index] = outcome
                    if on_done is not None:
                        on_done(outcome)
    finally:
        for _ in threads:
            todo.put(None)
        for thread in threads:
            thread.join()
    return [by_index[index] for index in range(len(by_index))]
