"""The grading task, in-process and on a real Celery worker over Redis with PostgreSQL."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError

from evaluation.tasks import evaluation_run_task
from tests.celery_worker import job_wait
from tests.llm_servers import FakeOllamaServer

from .factories import EvaluationFactory
from .test_api import GOOD_REQUEST, URL


@pytest.mark.django_db
def test_the_task_is_idempotent(settings):
    with FakeOllamaServer() as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        evaluation = EvaluationFactory(difficulty="junior", model="llama3.2:3b")
        evaluation_run_task.delay(evaluation.pk)
        evaluation_run_task.delay(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "done" and evaluation.source == "llm"
    assert len(server.chat_requests) == 1


@pytest.mark.django_db
def test_a_database_that_stays_down_fails_the_row_after_the_last_retry(monkeypatch):
    evaluation = EvaluationFactory()

    def database_down(*, evaluation_id: int) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("evaluation.tasks.evaluation_run", database_down)
    # The last attempt, run as a worker runs it: the error ends the task instead of reaching the caller.
    result = evaluation_run_task.apply((evaluation.pk,), retries=evaluation_run_task.max_retries, throw=False)
    assert result.failed() and isinstance(result.result, OperationalError)
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert evaluation.error == "gave up after 5 retries: server closed the connection unexpectedly"


@pytest.mark.celery_worker
def test_a_real_worker_grades_a_queued_request(celery_worker_factory, api_client, settings):
    with FakeOllamaServer() as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        env = {"LLM_BACKEND": "ollama", "LLM_BASE_URL": server.base_url, "LLM_MODEL": "llama3.2:3b"}
        with celery_worker_factory(extra_env=env):
            response = api_client.post(
                f"{URL}?wait=false", data=json.dumps(GOOD_REQUEST), content_type="application/json"
            )
            assert response.status_code == 202
            body = job_wait(api_client, f"{URL}/{response.json()['id']}")
    assert body["status"] == "done", body
    assert body["source"] == "llm"
    assert len(server.chat_requests) == 1
