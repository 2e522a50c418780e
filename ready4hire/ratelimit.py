"""Protection: per-API-key rate limits and the grading queue's back-pressure, both answering 429 with
`Retry-After` (`Throttled`, mapped by the API's DomainError handler).

Rate limits use the `limits` library's fixed windows. The counts are shared by every web process: in Redis
(API_RATE_LIMIT_STORAGE, by default the broker when it is Redis), else in the database (`RateLimitWindow`
rows, one per key and limit, incremented under a row lock). A key's own `rate_limit` overrides
API_RATE_LIMIT. Back-pressure: `?wait=false` grading is refused, before anything is stored, while more than
GRADING_MAX_PENDING evaluations wait for a worker.
"""

from __future__ import annotations

import functools
import math
import re
import time
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from .errors import DomainError

# limits spells periods out ("120/minute"); operators write "120/m" as well.
_SHORT_PERIODS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_SHORT = re.compile(r"/\s*([smhd])\b")


class Throttled(DomainError, status=429, code="throttled"):
    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


def rate_limits_parse(text: str) -> list[RateLimitItem]:
    """'120/m', '10 per second' or '10/s;1000/h' as limits' items; ValueError when it is not a rate."""
    return parse_many(_SHORT.sub(lambda match: "/" + _SHORT_PERIODS[match.group(1)], text.strip()))


class DatabaseStorage(Storage):
    """limits' storage in the database, for deployments without Redis: a window is a row, incremented under
    `select_for_update` so concurrent processes never lose a hit."""

    STORAGE_SCHEME = ["r4h-database"]

    @property
    def base_exceptions(self) -> type[Exception]:
        from django.db import DatabaseError

        return DatabaseError

    @staticmethod
    def _rows():
        return apps.get_model("evaluation", "RateLimitWindow").objects

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = timezone.now()
        with transaction.atomic():
            window, _ = (
                self._rows()
                .select_for_update()
                .get_or_create(key=key, defaults={"count": 0, "expires_at": now + timedelta(seconds=expiry)})
            )
            if window.expires_at <= now:  # the last window is over: this hit opens a new one
                window.count, window.expires_at = 0, now + timedelta(seconds=expiry)
            window.count += amount
            window.save(update_fields=["count", "expires_at"])
        return window.count

    def get(self, key: str) -> int:
        window = self._rows().filter(key=key, expires_at__gt=timezone.now()).first()
        return window.count if window else 0

    def get_expiry(self, key: str) -> float:
        window = self._rows().filter(key=key).first()
        return window.expires_at.timestamp() if window else time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        deleted, _ = self._rows().all().delete()
        return deleted

    def clear(self, key: str) -> None:
        self._rows().filter(key=key).delete()


@functools.cache
def _limiter(storage_url: str) -> FixedWindowRateLimiter:
    storage = storage_from_string(storage_url) if storage_url else DatabaseStorage()
    return FixedWindowRateLimiter(storage)


def api_key_throttle(*, api_key) -> None:
    """Count one request of `api_key` against its limits; Throttled (429) once one is used up."""
    rate = api_key.rate_limit or settings.API_RATE_LIMIT
    if not rate:
        return
    limiter = _limiter(settings.API_RATE_LIMIT_STORAGE)
    for item in rate_limits_parse(rate):
        if not limiter.hit(item, "api-key", str(api_key.pk)):
            reset_at, _ = limiter.get_window_stats(item, "api-key", str(api_key.pk))
            raise Throttled(
                f"This API key may make {item.amount} requests per {item.get_expiry()} s ({rate}); retry later.",
                retry_after=math.ceil(reset_at - time.time()),
            )


def grading_backlog_check() -> None:
    """Refuse a queued grade while more than GRADING_MAX_PENDING evaluations wait for a worker. Retry-After
    is the time the workers took lately to grade the excess (between 1 s and 5 min; 30 s with no figures)."""
    limit = settings.GRADING_MAX_PENDING
    if limit <= 0:
        return
    evaluations = apps.get_model("evaluation", "Evaluation").objects
    pending = evaluations.filter(status="pending").count()
    if pending <= limit:
        return
    recent = evaluations.filter(status="done", finished_at__gte=timezone.now() - timedelta(minutes=1)).count()
    wait = (pending - limit) * 60 / recent if recent else 30
    raise Throttled(
        f"{pending} grades are waiting for a worker (the limit is {limit}): retry later, or grade with wait=true.",
        retry_after=min(300, math.ceil(wait)),
    )
