"""`GET /metrics` in one process: the series read from the database and the broker at scrape time, the kinds
of LLM failure, and the token. (tests/ready4hire/test_serve.py checks the sums under `make serve`.)"""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from evaluation.models import Evaluation
from tests.evaluation.factories import EvaluationFactory
from tests.llm_servers import FakeOllamaServer, closed_port_url
from tests.training.factories import DatasetExportFactory, FineTuneRunFactory

from .server_process import GRADE_REQUEST

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_jobs_are_counted_by_kind_and_status_from_the_database(client):
    EvaluationFactory.create_batch(2, status=Evaluation.Status.PENDING)
    EvaluationFactory(status=Evaluation.Status.FAILED)
    EvaluationFactory(status=Evaluation.Status.DONE)
    DatasetExportFactory(status="running")
    FineTuneRunFactory(status="failed")

    metrics = scrape(client)

    def jobs(kind: str, status: str) -> float:
        return metrics[("r4h_jobs", frozenset({"kind": kind, "status": status}.items()))]

    assert (jobs("evaluation", "pending"), jobs("evaluation", "running"), jobs("evaluation", "failed")) == (2, 0, 1)
    assert jobs("export", "running") == 1 and jobs("finetune", "failed") == 1 and jobs("comparison", "pending") == 0


def test_queue_depth_is_the_length_of_each_redis_queue(client, settings):
    import redis

    url = "redis://127.0.0.1:6379/9"
    connection = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.flushdb()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis at {url}: {exc}")
    settings.CELERY_BROKER_URL = url
    connection.rpush("exports", "a", "b", "c")
    connection.rpush("evaluation", "a")

    metrics = scrape(client)

    assert metrics[("r4h_queue_depth", frozenset({"queue": "exports"}.items()))] == 3
    assert metrics[("r4h_queue_depth", frozenset({"queue": "evaluation"}.items()))] == 1
    assert metrics[("r4h_queue_depth", frozenset({"queue": "training"}.items()))] == 0
    connection.flushdb()


def test_a_broker_that_is_down_leaves_the_rest_of_the_scrape(client, settings):
    settings.CELERY_BROKER_URL = closed_port_url().replace("http://", "redis://") + "/9"
    metrics = scrape(client)
    assert not any(name == "r4h_queue_depth" for name, _ in metrics)
    assert ("r4h_jobs", frozenset({"kind": "evaluation", "status": "pending"}.items())) in metrics


def _llm_errors(client) -> dict[str, float]:
    return {
        dict(labels)["kind"]: value
        for (name, labels), value in scrape(client).items()
        if name == "r4h_llm_errors_total"
    }


@pytest.mark.parametrize("kind", ["timeout", "connection"])
def test_llm_transport_failures_are_counted_by_kind(api_client, settings, kind):
    with FakeOllamaServer(default_mode="slow", slow_seconds=2) as server:
        settings.LLM_BACKEND, settings.LLM_MAX_RETRIES, settings.LLM_TIMEOUT = "ollama", 0, 0.3
        settings.LLM_BASE_URL = server.base_url if kind == "timeout" else closed_port_url()
        before = _llm_errors(api_client)
        response = api_client.post(
            "/api/v1/evaluations", data=json.dumps(GRADE_REQUEST), content_type="application/json"
        )
        after = _llm_errors(api_client)
    assert response.status_code == 200 and response.json()["source"] == "heuristic"
    assert after[kind] == before[kind] + 1
    assert sum(after.values()) == sum(before.values()) + 1


def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert ("r4h_grading_cache_hits_total", frozenset()) in scrape(client, HTTP_AUTHORIZATION="Bearer s3cret")


def test_the_grafana_dashboard_queries_only_series_the_metrics_expose(api_client):
    import re
    from pathlib import Path

    api_client.post("/api/v1/evaluations", data=json.dumps(GRADE_REQUEST), content_type="application/json")
    text = api_client.get("/metrics").content.decode()
    # Every family is declared (# TYPE) even while it has no sample: no broker, no reviewed example yet.
    exposed = {name for name, _ in scrape(api_client)} | set(re.findall(r"^# TYPE (\w+)", text, re.MULTILINE))
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "deploy/grafana/ready4hire.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\br4h_\w+", target["expr"])
    }
    assert queried and queried <= exposed, queried - exposed
