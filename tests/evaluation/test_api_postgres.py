"""Grading end to end through the API on PostgreSQL (the production database)."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from evaluation.models import Evaluation
from tests.llm_servers import FakeOllamaServer

from .test_api import GOOD_REQUEST, URL

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_grading_through_the_api_on_postgres(postgres, api_client, settings):
    assert connection.vendor == "postgresql"
    with FakeOllamaServer() as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        first = api_client.post(URL, data=json.dumps(GOOD_REQUEST), content_type="application/json").json()
        second = api_client.post(URL, data=json.dumps(GOOD_REQUEST), content_type="application/json").json()
    assert first["source"] == "llm" and second["from_cache"] is True
    stored = Evaluation.objects.get(pk=first["id"])
    assert stored.result["score"] == first["score"]
    assert stored.expected_concepts == GOOD_REQUEST["expected_concepts"]
