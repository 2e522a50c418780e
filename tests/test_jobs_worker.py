"""The job lifecycle against real services: a Celery worker killed with SIGKILL mid-job and started again, a
broker that is down then back, and a database connection dropped in the middle of a grade (PostgreSQL,
Redis, real worker processes; the sweeper is run here, as beat runs it every minute)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import psycopg
import pytest
from django.db import connection

from evaluation.models import Evaluation
from ready4hire.jobs import jobs_sweep
from tests.celery_worker import celery_broker
from tests.evaluation.test_api import GOOD_REQUEST, URL
from tests.llm_servers import FakeOllamaServer
from tests.test_jobs import CLOSED_PORT_BROKER
from tests.training.factories import TrainingExampleFactory
from training.models import DatasetExport, TrainingExample
from training.services.exports import dataset_export_submit

pytestmark = pytest.mark.celery_worker
# Short limits, in this process (the sweeper) and in the workers, so a dead worker is noticed in seconds.
CONNECT_KEYS = ("dbname", "user", "password", "host", "port")
LIMITS = {"evaluation": {"stale_after": 2, "max_runtime": 8}, "dataset_export": {"stale_after": 2}}


def _until(condition: Callable[[], bool], *, timeout: float, sweep: bool = False) -> bool:
    """Poll `condition` (running the sweeper each second with `sweep`, as beat would) until true or `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        if sweep:
            jobs_sweep()
        time.sleep(1.0 if sweep else 0.05)
    return True


@pytest.fixture
def short_limits(settings):
    settings.JOB_LIMITS = LIMITS
    return {"JOB_LIMITS": json.dumps(LIMITS)}


def test_a_killed_worker_leaves_no_evaluation_running(celery_worker_factory, api_client, settings, short_limits):
    with FakeOllamaServer(slow_seconds=60) as server:
        server.default_mode = "slow"  # every grade hangs until the worker is killed
        settings.LLM_BACKEND, settings.LLM_BASE_URL = "ollama", server.base_url
        env = {**short_limits, "LLM_BACKEND": "ollama", "LLM_BASE_URL": server.base_url, "LLM_TIMEOUT": "120"}
        with celery_worker_factory(extra_env=env, queues=None) as worker:
            ids = [
                api_client.post(
                    f"{URL}?wait=false", data=json.dumps(GOOD_REQUEST), content_type="application/json"
                ).json()["id"]
                for _ in range(6)
            ]
            assert _until(lambda: Evaluation.objects.filter(status="running").exists(), timeout=30)
            worker.kill()  # SIGKILL: no chance to hand anything back
            worker.wait()
        stuck = Evaluation.objects.filter(pk__in=ids, status="running").count()
        server.default_mode = "valid"
        with celery_worker_factory(extra_env=env, queues=None, purge=False):
            finished = _until(
                lambda: not Evaluation.objects.filter(pk__in=ids).exclude(status__in=["done", "failed"]).exists(),
                timeout=90,
                sweep=True,
            )
    statuses = dict(Evaluation.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert stuck >= 1 and finished, statuses
    assert set(statuses.values()) == {"done"}


def test_a_killed_export_is_restarted_cleanly(celery_worker_factory, api_client, settings, media_root, short_limits):
    settings.DATASET_EXPORT_CHUNK_SIZE = 1  # thousands of small chunks: slow enough to be killed halfway
    TrainingExample.objects.bulk_create(TrainingExampleFactory.build_batch(5000, review_status="approved"))
    env = {**short_limits, "MEDIA_ROOT": str(media_root), "DATASET_EXPORT_CHUNK_SIZE": "1"}
    with celery_worker_factory(extra_env=env, queues=None) as worker:
        export = dataset_export_submit(name="nightly")
        assert _until(lambda: DatasetExport.objects.get(pk=export.pk).progress >= 10, timeout=60)
        worker.kill()
        worker.wait()
    directory = media_root / "datasets" / "nightly" / "v1"
    killed = DatasetExport.objects.get(pk=export.pk)
    assert killed.status == "running" and list(directory.glob("*.part"))  # what the crash left
    with celery_worker_factory(extra_env=env, queues=None, purge=False):
        assert _until(lambda: DatasetExport.objects.get(pk=export.pk).status == "done", timeout=120, sweep=True)
    export.refresh_from_db()
    assert export.job_attempts == 2 and export.train_count + export.val_count == 5000
    assert not list(directory.glob("*.part")) and (directory / "manifest.json").is_file()


def test_with_the_broker_down_a_grade_is_accepted_and_runs_once_it_is_back(
    celery_worker_factory, api_client, short_limits
):
    with celery_broker(CLOSED_PORT_BROKER):
        response = api_client.post(f"{URL}?wait=false", data=json.dumps(GOOD_REQUEST), content_type="application/json")
    assert response.status_code == 202, response.content
    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert (evaluation.status, evaluation.dispatched_at) == ("pending", None)

    Evaluation.objects.filter(pk=evaluation.pk).update(created_at=evaluation.created_at.replace(year=2000))
    with celery_worker_factory(extra_env=short_limits, queues=None):
        assert jobs_sweep()["evaluation"].dispatched == [evaluation.pk]
        assert _until(lambda: Evaluation.objects.get(pk=evaluation.pk).status == "done", timeout=30)


def _terminate_other_backends(admin: psycopg.Connection) -> list:
    return admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()


def test_a_database_restart_while_the_llm_thinks_loses_nothing(
    transactional_db, postgres, api_client, settings, monkeypatch
):
    import evaluation.async_grading as grading

    grade = grading.agrade_with_llm
    held = []

    async def restart_the_database_connections_then_grade(*args, **kwargs):
        # What a database restart does to every open connection while the LLM is thinking. The request holds
        # none while it waits (its database steps hand theirs back), so nothing of it is cut.
        params = {key: value for key, value in connection.get_connection_params().items() if key in CONNECT_KEYS}
        with psycopg.connect(**params, autocommit=True) as admin:
            held.extend(_terminate_other_backends(admin))
        return await grade(*args, **kwargs)

    monkeypatch.setattr(grading, "agrade_with_llm", restart_the_database_connections_then_grade)
    with FakeOllamaServer() as server:
        settings.LLM_BACKEND, settings.LLM_BASE_URL = "ollama", server.base_url
        response = api_client.post(URL, data=json.dumps(GOOD_REQUEST), content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "done" and response.json()["source"] == "llm"
    assert held == []  # no connection was held across the LLM call
    assert Evaluation.objects.get().status == "done"


def test_the_database_down_when_the_grade_is_stored_answers_503_and_the_row_still_finishes(
    transactional_db, postgres, api_client, settings, monkeypatch
):
    import evaluation.async_grading as grading

    grade = grading.agrade_with_llm
    params = {key: value for key, value in connection.get_connection_params().items() if key in CONNECT_KEYS}
    database = params["dbname"]

    async def take_the_database_down_then_grade(*args, **kwargs):
        with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [database])
        return await grade(*args, **kwargs)

    monkeypatch.setattr(grading, "agrade_with_llm", take_the_database_down_then_grade)
    try:
        with FakeOllamaServer() as server:
            settings.LLM_BACKEND, settings.LLM_BASE_URL = "ollama", server.base_url
            response = api_client.post(URL, data=json.dumps(GOOD_REQUEST), content_type="application/json")
    finally:
        with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        connection.close()

    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "database_unavailable"

    # The row could not be handed back while the database was down; once its heartbeat is stale the sweeper
    # takes it back and grades it again.
    evaluation = Evaluation.objects.get()
    assert evaluation.status in ("running", "pending")
    monkeypatch.setattr(grading, "agrade_with_llm", grade)
    with FakeOllamaServer() as server:
        settings.LLM_BACKEND, settings.LLM_BASE_URL = "ollama", server.base_url
        long_ago = evaluation.created_at.replace(year=2000)
        Evaluation.objects.filter(pk=evaluation.pk).update(
            created_at=long_ago, heartbeat_at=long_ago, started_at=long_ago
        )
        jobs_sweep()
        jobs_sweep()  # the first may only hand a stale running row back; the next dispatches it (eager here)
    evaluation.refresh_from_db()
    assert evaluation.status == "done" and evaluation.source == "llm"
