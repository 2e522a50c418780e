"""`GET /metrics`: the recorded series (ready4hire/metrics.py, summed over every process of the server) and
those read at scrape time from the database and the broker, in Prometheus text format.

Read at scrape time, so every process (web, workers, the admin) counts and a restart loses nothing:
`r4h_jobs{kind,status}`, `r4h_queue_depth{queue}`, `r4h_reviews_total{action}`, `r4h_examples{review_status}`
and `r4h_agreement_qwk{model}`. Protected by METRICS_TOKEN (`Authorization: Bearer <token>`) when it is set.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .errors import error_body
from .metrics import recorded_registry

logger = logging.getLogger(__name__)

# The background jobs an operator watches, by the label the dashboard uses; finished rows are not counted.
JOB_MODELS = {
    "evaluation": "evaluation.Evaluation",
    "export": "training.DatasetExport",
    "finetune": "training.FineTuneRun",
    "comparison": "training.ComparisonRun",
}
JOB_STATUSES = ("pending", "running", "failed")


def _count_by(model: str, field: str, **filters: object) -> dict[str, int]:
    from django.apps import apps

    rows = apps.get_model(model).objects.filter(**filters).values(field).annotate(n=Count("pk")).order_by()
    return {row[field]: row["n"] for row in rows}


def _rows_by(family: Metric, model: str, field: str, values: list[str]) -> Metric:
    """`family` with the rows of `model` counted by `field`, one sample for each of `values` (0 when none)."""
    counts = _count_by(model, field)
    for value in values:
        family.add_metric([value], counts.get(value, 0))
    return family


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue: the length of its Redis list (empty without a Redis broker)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return {}
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return {queue: int(client.llen(queue)) for queue in settings.CELERY_TASK_QUEUES}
    finally:
        client.close()


class DatabaseCollector:
    """The series read at scrape time. A part that fails (the broker down) is left out and logged: the
    rest of the scrape still answers."""

    def collect(self) -> Iterator[Metric]:
        for part in (self._jobs, self._queues, self._reviews, self._examples, self._agreement):
            try:
                yield from part()
            except Exception:  # a scrape must not fail for one source; the log says which and why
                logger.exception("metrics: %s failed", part.__name__)

    def _jobs(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "r4h_jobs",
            "Background jobs by kind and status (done and cancelled ones excluded).",
            labels=["kind", "status"],
        )
        for kind, model in JOB_MODELS.items():
            counts = _count_by(model, "status", status__in=JOB_STATUSES)
            for status in JOB_STATUSES:
                family.add_metric([kind, status], counts.get(status, 0))
        yield family

    def _queues(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("r4h_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"])
        for queue, depth in queue_depths().items():
            family.add_metric([queue], depth)
        yield family

    def _reviews(self) -> Iterator[Metric]:
        from training.models import Review

        family = CounterMetricFamily("r4h_reviews", "Reviews recorded, by action.", labels=["action"])
        yield _rows_by(family, "training.Review", "action", Review.Action.values)

    def _examples(self) -> Iterator[Metric]:
        from training.models import TrainingExample

        family = GaugeMetricFamily("r4h_examples", "Training examples by review status.", labels=["review_status"])
        yield _rows_by(family, "training.TrainingExample", "review_status", TrainingExample.ReviewStatus.values)

    def _agreement(self) -> Iterator[Metric]:
        from training.selectors.calibration import agreement_qwk_by_grader

        family = GaugeMetricFamily(
            "r4h_agreement_qwk",
            "Machine-vs-human quadratic weighted kappa over each model's last reviewed examples.",
            labels=["model"],
        )
        for model, qwk in agreement_qwk_by_grader(last=settings.AGREEMENT_MONITOR_LAST_REVIEWS).items():
            if qwk is not None:
                family.add_metric([model], qwk)
        yield family


def _registry() -> CollectorRegistry:
    registry = recorded_registry()
    registry.register(DatabaseCollector())
    return registry


def _authorised(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(sent.encode(), token.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorised(request):
        response = JsonResponse(
            error_body(request, status=401, detail="Send METRICS_TOKEN as 'Authorization: Bearer <token>'."),
            status=401,
        )
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
