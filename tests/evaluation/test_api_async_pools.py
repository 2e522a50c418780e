"""The async grading path keeps every waiting request's LLM call in flight at once, however many there are: its
connections are spread over several small pools (evaluation.async_grading), and none waits for a free one."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from evaluation import async_grading
from evaluation.models import Evaluation
from tests.llm_servers import FakeOllamaServer

from .test_api import GOOD_REQUEST, URL

pytestmark = pytest.mark.django_db


def test_more_waiting_requests_than_one_pool_holds_all_reach_the_llm_at_once(settings, api_key, monkeypatch):
    monkeypatch.setattr(async_grading, "POOL_CONNECTIONS", 2)
    requests = 5
    with FakeOllamaServer(slow_seconds=1.0) as server:
        settings.LLM_BACKEND, settings.LLM_BASE_URL, settings.LLM_MODEL = "ollama", server.base_url, "llama3.2:3b"
        settings.LLM_TIMEOUT = 30
        server.script(*["slow"] * requests)  # each answer waits a second, so they overlap

        async def grade_all():
            client = AsyncClient()
            return await asyncio.gather(
                *(
                    client.post(
                        URL,
                        data=json.dumps({**GOOD_REQUEST, "answer": f"{GOOD_REQUEST['answer']} ({n})"}),
                        content_type="application/json",
                        headers={"Authorization": f"Bearer {api_key}"},
                    )
                    for n in range(requests)
                )
            )

        responses = async_to_sync(grade_all)()
        assert [response.status_code for response in responses] == [200] * requests
        assert {response.json()["source"] for response in responses} == {"llm"}
        assert server.max_in_flight == requests
    assert Evaluation.objects.filter(status="done", source="llm").count() == requests
