"""The grading task, in-process and on a real Celery worker over Redis with PostgreSQL."""

from __future__ import annotations

import json
import time

import pytest

from evaluation.models import Evaluation
from evaluation.tasks import evaluation_run_task
from tests.llm_servers import FakeOllamaServer

from .test_api import GOOD_REQUEST, URL


@pytest.mark.django_db
def test_the_task_is_idempotent(settings):
    with FakeOllamaServer() as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        evaluation = Evaluation.objects.create(
            question_text="What is a deadlock?",
            answer="Two threads each wait for the other's lock.",
            category="technical",
            difficulty="junior",
            language="en",
            model="llama3.2:3b",
        )
        evaluation_run_task.delay(evaluation.pk)
        evaluation_run_task.delay(evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "done" and evaluation.source == "llm"
    assert len(server.chat_requests) == 1


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
            evaluation_id = response.json()["id"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                body = api_client.get(f"{URL}/{evaluation_id}").json()
                if body["status"] == "done":
                    break
                time.sleep(0.2)
    assert body["status"] == "done", body
    assert body["source"] == "llm"
    assert len(server.chat_requests) == 1
