"""The grading endpoint's async path (what an ASGI server runs) answers exactly as the sync grading service
does, fault by fault, and as the WSGI path does for refused requests."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from evaluation.models import Evaluation
from evaluation.schemas import EvaluationIn, EvaluationOut
from evaluation.services import evaluation_submit
from tests.llm_servers import FakeOllamaServer, closed_port_url
from training.models import TrainingExample

from .test_api import GOOD_REQUEST, URL

pytestmark = pytest.mark.django_db

VOLATILE = {"id", "created_at", "finished_at", "latency_ms", "request_id"}


@pytest.fixture
def ollama(settings):
    with FakeOllamaServer(slow_seconds=2.0) as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_MODEL = "llama3.2:3b"
        settings.LLM_RETRY_BACKOFF = 0
        settings.LLM_MAX_RETRIES = 1
        settings.LLM_TIMEOUT = 0.5  # the slow mode outlasts it
        yield server


def async_post(api_key: str, body: dict, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return async_to_sync(AsyncClient().post)(
        f"{URL}?{query}" if query else URL,
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
    )


def _comparable(body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in VOLATILE}


def _forget_grades() -> None:
    """Each side grades from scratch: no cached grade, no collected example from the other side."""
    Evaluation.objects.all().delete()
    TrainingExample.objects.all().delete()


FAULTS = {
    "valid": [],
    "slow": ["slow", "slow"],
    "garbage": ["garbage_envelope", "garbage_envelope"],
    "schema_invalid": ["schema_invalid", "schema_invalid"],
    "invalid_then_valid": ["invalid_json", "valid"],
    "out_of_range": ["out_of_range"],
    "error_500": ["error_500", "error_500"],
}


@pytest.mark.parametrize("fault", [*FAULTS, "down"])
def test_the_async_endpoint_answers_as_the_sync_service_does(fault, ollama, api_key, settings):
    if fault == "down":
        settings.LLM_BASE_URL = closed_port_url()
    ollama.script(*FAULTS.get(fault, []))
    sync_body = EvaluationOut.from_orm(
        evaluation_submit(request=EvaluationIn(**GOOD_REQUEST).grading_request())
    ).model_dump(mode="json")
    _forget_grades()
    ollama.script(*FAULTS.get(fault, []))

    response = async_post(api_key, GOOD_REQUEST)

    assert response.status_code == 200
    assert _comparable(response.json()) == _comparable(sync_body)
    expected_source = "llm" if fault in {"valid", "invalid_then_valid", "out_of_range"} else "heuristic"
    assert response.json()["source"] == expected_source
    stored = Evaluation.objects.get()
    assert stored.status == "done" and stored.source == expected_source


def test_a_cache_hit_on_the_async_path_is_marked_and_asks_nothing(ollama, api_key):
    first = async_post(api_key, GOOD_REQUEST)
    second = async_post(api_key, GOOD_REQUEST)
    assert first.json()["from_cache"] is False and second.json()["from_cache"] is True
    assert second.json()["result"] == first.json()["result"]
    assert len(ollama.chat_requests) == 1


@pytest.mark.parametrize(
    ("key", "body", "params"),
    [
        ("", GOOD_REQUEST, {}),  # no key: 401
        ("r4h_not-a-key", GOOD_REQUEST, {}),  # unknown key: 401
        (None, {**GOOD_REQUEST, "difficulty": "guru"}, {}),  # bad input: 422 naming the field
        (None, {**GOOD_REQUEST, "surprise": 1}, {}),  # unknown field: 422
        (None, GOOD_REQUEST, {"wait": "false"}),  # queued: 202
    ],
)
def test_refusals_and_the_queued_answer_match_the_wsgi_path(
    key, body, params, client, api_key, django_capture_on_commit_callbacks
):
    key = api_key if key is None else key
    query = "&".join(f"{k}={v}" for k, v in params.items())
    with django_capture_on_commit_callbacks():
        wsgi = client.post(
            f"{URL}?{query}" if query else URL,
            data=json.dumps(body),
            content_type="application/json",
            **({"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}),
        )
        asgi = async_post(key, body, **params)
    assert asgi.status_code == wsgi.status_code
    assert _comparable(asgi.json()) == _comparable(wsgi.json())
