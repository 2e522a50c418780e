"""The steps a sans-IO protocol yields (`Send` a request, `Pause` between attempts) and `next_step`, which
advances one. The clients' protocols are generators of these steps, so one protocol runs over a sync or an
async transport; the grader drives its turns with `next_step` the same way."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar


@dataclass(frozen=True)
class Send:
    """A protocol step: send this request; the answer is the `httpx.Response` or the `httpx.TransportError`."""

    method: str
    url: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Pause:
    """A protocol step: wait this long (the backoff between two attempts)."""

    seconds: float


T = TypeVar("T")
Steps = Generator[Send | Pause, Any, T]


def next_step(steps: Steps[T], answer: Any) -> Send | Pause | StopIteration:
    """The protocol's next step given the last answer, or the StopIteration that carries its result."""
    try:
        return steps.send(answer)
    except StopIteration as done:
        return done
