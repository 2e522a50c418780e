"""Per-process caching of the small, hot lookups every grading request makes (the API key, the router's active
version and its prompt variant, the active calibration): each is a row or two that changes rarely, and on a
busy server compiling and running their queries was a good part of a request's CPU.

A cached answer lives for LOOKUP_CACHE_SECONDS at most. A change saved or deleted through the ORM in this
process clears the lookups that depend on it at once, and again when its transaction commits (a lookup in
between would read the old committed row). A change made by another process (another web worker, a Celery
worker, a command) is seen by this one within LOOKUP_CACHE_SECONDS. Inside a transaction a lookup always
reads the database, so it sees that transaction's own writes.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import connection, transaction
from django.db.models.signals import post_delete, post_migrate, post_save

LOOKUP_CACHE_SECONDS = 5.0
MAX_ENTRIES = 1024  # per lookup; the arguments are categories, model names and key hashes, so a few dozen

P = ParamSpec("P")
R = TypeVar("R")

_ALL: list[_Lookup] = []


def _now() -> float:
    return time.monotonic()


class _Lookup:
    def __init__(self, function: Callable[..., Any], cache_none: bool) -> None:
        self.function = function
        self.cache_none = cache_none
        self.entries: dict[tuple, tuple[float, Any]] = {}
        self.generation = 0
        self.lock = threading.Lock()
        self.filling = threading.Lock()

    def get(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        if connection.in_atomic_block:
            return self.function(*args, **kwargs)
        key = (args, tuple(sorted(kwargs.items())))
        entry = self.entries.get(key)
        if entry is not None and entry[0] > _now():
            return entry[1]
        # One reader at a time: when an answer expires under load, one query refills it and the requests that
        # asked meanwhile take its answer, instead of each opening a connection for the same row.
        with self.filling:
            entry = self.entries.get(key)
            now = _now()
            if entry is not None and entry[0] > now:
                return entry[1]
            generation = self.generation
            value = self.function(*args, **kwargs)
            if value is None and not self.cache_none:
                return value
            with self.lock:
                # A change cleared the cache while this read ran: what it read may be the old row.
                if generation == self.generation:
                    if len(self.entries) >= MAX_ENTRIES:
                        self.entries = {}
                    self.entries[key] = (now + LOOKUP_CACHE_SECONDS, value)
            return value

    def clear(self, **_: object) -> None:
        with self.lock:
            self.generation += 1
            self.entries = {}


def cached_lookup(*models: str, cache_none: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache a read-only lookup per process (see the module's doc); `models` ("app_label.ModelName") are the
    ones whose rows it reads: saving or deleting one clears it. `cache_none=False` keeps a None answer out
    (a lookup by an arbitrary key, where anything could be asked)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        lookup = _Lookup(function, cache_none)
        _ALL.append(lookup)

        def changed(**_: object) -> None:
            lookup.clear()
            if connection.in_atomic_block:
                transaction.on_commit(lookup.clear)

        for model in models:
            post_save.connect(changed, sender=model, weak=False)
            post_delete.connect(changed, sender=model, weak=False)

        @functools.wraps(function)
        def cached(*args: P.args, **kwargs: P.kwargs) -> R:
            return lookup.get(args, kwargs)

        cached.cache_clear = lookup.clear  # type: ignore[attr-defined]
        return cached

    return decorate


def lookups_clear(**_: object) -> None:
    """Forget every cached lookup of this process."""
    for lookup in _ALL:
        lookup.clear()


# A flush or migrate replaces the tables wholesale, without a signal per row (tests flush between cases).
post_migrate.connect(lookups_clear, weak=False, dispatch_uid="ready4hire.lookups.clear")
