"""The Prometheus series the code records as it runs (grades, LLM errors, cache lookups), and the one log line
per grade. Services call these functions; `/metrics` (ready4hire/metrics_view.py) adds the series read from
the database at scrape time and serves them all. A Celery worker grades too (`?wait=false`): with
WORKER_METRICS_PORT set it serves its own recorded series on that port, summed over its pool processes.

Multiprocess-safe: when PROMETHEUS_MULTIPROC_DIR is set (`make serve` sets it) before prometheus_client is
first imported, each process writes its values to files there and a scrape of any process sums them all.
Nothing here imports Django or the ORM: the LLM clients' grader calls it too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from celery.signals import worker_init
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the values' files go there from the first metric on
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

LLM_ERROR_KINDS = (
    "timeout",
    "connection",
    "http_5xx",
    "http_4xx",
    "invalid_response",
    "invalid_json",
    "schema_invalid",
)

GRADING_SECONDS = Histogram(
    "r4h_grading_seconds",
    "Time to grade one answer, by where the grade came from (llm, heuristic, cache), model and category.",
    ["source", "model", "category"],
    # A cached grade takes milliseconds, a local LLM seconds to a minute.
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
LLM_ERRORS = Counter("r4h_llm_errors", "LLM calls that gave no usable grade, by kind of failure.", ["kind"])
CACHE_HITS = Counter("r4h_grading_cache_hits", "Grading requests answered from the grade cache.")
CACHE_MISSES = Counter("r4h_grading_cache_misses", "Grading requests the grade cache could not answer.")
for _kind in LLM_ERROR_KINDS:  # every kind shows from the first scrape, at 0, so rate() works at once
    LLM_ERRORS.labels(_kind)

grading_logger = logging.getLogger("ready4hire.grading")


def llm_error(error: Exception) -> None:
    """One failed LLM call: the error's `kind` (set by the clients and the output parser)."""
    kind = getattr(error, "kind", None)
    LLM_ERRORS.labels(kind if kind in LLM_ERROR_KINDS else "invalid_response").inc()


def grade_finished(evaluation: Any, *, llm_asked: bool) -> None:
    """A stored grade: a cache hit (`from_cache`) or miss (the LLM was asked), its latency in the histogram,
    and one log line with what an operator searches by. Counted once the grade is stored, because a request
    may look the cache up twice on its way (the async path's first try, then the claimed row)."""
    if evaluation.from_cache or llm_asked:
        (CACHE_HITS if evaluation.from_cache else CACHE_MISSES).inc()
    source = "cache" if evaluation.from_cache else evaluation.source
    seconds = (evaluation.latency_ms or 0) / 1000
    GRADING_SECONDS.labels(source, evaluation.model, evaluation.category).observe(seconds)
    grading_logger.info(
        "Graded evaluation %s: %s from %s in %d ms",
        evaluation.pk,
        evaluation.score,
        source,
        evaluation.latency_ms or 0,
        extra={
            "evaluation_id": evaluation.pk,
            "model": evaluation.model,
            "source": evaluation.source,
            "latency_ms": evaluation.latency_ms,
            "cache_hit": bool(evaluation.from_cache),
        },
    )


def recorded_registry() -> CollectorRegistry:
    """The r4h_ series recorded here: summed over every process writing to PROMETHEUS_MULTIPROC_DIR, or this
    process's own."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_RecordedSeries())
    return registry


class _RecordedSeries:
    """The default registry's r4h_ series, without the process and platform series it also holds."""

    def collect(self):
        return (family for family in REGISTRY.collect() if family.name.startswith("r4h_"))


@worker_init.connect(weak=False)
def _worker_metrics_serve(**_: object) -> None:
    """In a Celery worker's main process, before its pool starts: the worker's series on WORKER_METRICS_PORT,
    without the values an earlier run left (any process's but this one's: no pool process exists yet)."""
    port = os.environ.get("WORKER_METRICS_PORT")
    if not port:
        return
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for stale in Path(folder).glob("*.db"):
            if not stale.stem.endswith(f"_{os.getpid()}"):
                stale.unlink(missing_ok=True)
    start_http_server(int(port), registry=recorded_registry())
