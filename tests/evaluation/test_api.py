"""The grading API end to end: auth, the grade, cache, fallback and bad input."""

from __future__ import annotations

import json

import pytest

from evaluation.llm.schema import GradeResult, grade_json_schema
from evaluation.models import Evaluation
from tests.llm_servers import FakeOllamaServer, closed_port_url

pytestmark = pytest.mark.django_db

URL = "/api/v1/evaluations"

GOOD_REQUEST = {
    "question": "What is the GIL in Python and how does it affect concurrency?",
    "answer": (
        "The GIL is a mutex in CPython that lets one thread execute bytecode at a time. Threads still help "
        "with I/O-bound work because the lock is released while waiting, but CPU-bound work needs "
        "multiprocessing to use several cores."
    ),
    "expected_concepts": ["GIL", "threads", "multiprocessing", "I/O-bound"],
    "keywords": ["CPython", "mutex"],
    "category": "technical",
    "difficulty": "mid",
    "role": "Backend Developer",
    "language": "en",
}


def post(client, body, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"{URL}?{query}" if query else URL, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def ollama(settings):
    with FakeOllamaServer() as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_MODEL = "llama3.2:3b"
        settings.LLM_RETRY_BACKOFF = 0
        settings.LLM_TIMEOUT = 5
        yield server


def test_without_a_key_the_api_answers_401_json(client):
    response = post(client, GOOD_REQUEST)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert Evaluation.objects.count() == 0


def test_a_revoked_key_is_refused(client, api_key):
    from evaluation.models import ApiKey

    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    assert post(client, GOOD_REQUEST).status_code == 200
    ApiKey.objects.update(is_active=False)
    assert post(client, GOOD_REQUEST).status_code == 401


def test_staff_session_can_grade_but_a_plain_user_cannot(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("reader", password="pw-123456789")
    client.force_login(user)
    assert post(client, GOOD_REQUEST).status_code == 401
    user.is_staff = True
    user.save()
    # Issue 9: a session needs the permission the admin asks for to show evaluations.
    assert post(client, GOOD_REQUEST).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_evaluation"))
    user = django_user_model.objects.get(pk=user.pk)  # drop the cached permissions
    response = post(client, GOOD_REQUEST)
    assert response.status_code == 200, response.content


def test_grade_with_the_heuristic_when_no_llm_is_configured(api_client):
    response = post(api_client, GOOD_REQUEST)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "done"
    assert body["source"] == "heuristic"
    assert body["from_cache"] is False
    grade = GradeResult.model_validate(body["result"])
    assert grade.score == body["score"] > 0
    assert {"id", "model", "prompt_version", "latency_ms", "created_at"} <= body.keys()
    stored = Evaluation.objects.get(pk=body["id"])
    assert stored.result == body["result"]


def test_grade_with_ollama_sends_the_schema_and_stores_the_llm_grade(api_client, ollama):
    response = post(api_client, GOOD_REQUEST)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "llm"
    assert body["model"] == "llama3.2:3b"
    (chat,) = ollama.chat_requests
    assert chat.body["format"] == grade_json_schema()
    assert chat.body["stream"] is False
    assert "<candidate_answer>" in chat.body["messages"][-1]["content"]
    assert GOOD_REQUEST["answer"][:40] in chat.body["messages"][-1]["content"]
    stored = Evaluation.objects.get(pk=body["id"])
    assert stored.source == "llm" and stored.attempts == 1 and stored.raw_output


def test_the_same_request_is_served_from_the_cache(api_client, ollama):
    first = post(api_client, GOOD_REQUEST).json()
    second = post(api_client, GOOD_REQUEST).json()
    assert len(ollama.chat_requests) == 1
    assert second["from_cache"] is True and first["from_cache"] is False
    assert second["result"] == first["result"]
    assert second["id"] != first["id"]
    # A different role is a different request: a miss.
    post(api_client, {**GOOD_REQUEST, "role": "Data Engineer"})
    assert len(ollama.chat_requests) == 2


def test_the_cache_expires_after_its_ttl(api_client, ollama, settings):
    post(api_client, GOOD_REQUEST)
    settings.GRADING_CACHE_TTL = 0
    assert post(api_client, GOOD_REQUEST).json()["from_cache"] is False
    assert len(ollama.chat_requests) == 2


def test_llm_down_falls_back_to_the_heuristic_and_records_why(api_client, settings):
    settings.LLM_BACKEND = "ollama"
    settings.LLM_BASE_URL = closed_port_url()
    settings.LLM_RETRY_BACKOFF = 0
    body = post(api_client, GOOD_REQUEST).json()
    assert body["status"] == "done"
    assert body["source"] == "heuristic"
    assert "failed after" in body["llm_error"]
    assert Evaluation.objects.get(pk=body["id"]).error == body["llm_error"]


def test_invalid_output_twice_falls_back_and_keeps_the_raw_outputs(api_client, ollama):
    ollama.script("schema_invalid", "invalid_json")
    body = post(api_client, GOOD_REQUEST).json()
    assert body["source"] == "heuristic"
    assert len(ollama.chat_requests) == 2
    stored = Evaluation.objects.get(pk=body["id"])
    assert "re-ask" in stored.raw_output
    assert "schema" in stored.error


def test_invalid_output_then_valid_is_an_llm_grade(api_client, ollama):
    ollama.script("invalid_json", "valid")
    body = post(api_client, GOOD_REQUEST).json()
    assert body["source"] == "llm"
    assert body["attempts"] == 2


def test_wait_false_answers_202_and_the_task_grades_it(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_client, GOOD_REQUEST, wait="false")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "status", "language"} and body["language"] == "en"
    detail = api_client.get(f"{URL}/{body['id']}").json()
    assert detail["status"] == "done"
    assert detail["result"]["score"] == detail["score"]


def test_get_a_missing_evaluation_is_404_json(api_client):
    response = api_client.get(f"{URL}/999999")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"answer": None}, "answer"),
        ({"answer": "   "}, "answer"),
        ({"question": ""}, "question"),
        ({"category": "cooking"}, "category"),
        ({"difficulty": "guru"}, "difficulty"),
        ({"language": "fr"}, "language"),
        ({"answer": "x" * 20_001}, "answer"),
        ({"expected_concepts": "GIL"}, "expected_concepts"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(api_client, change, field):
    body = {**GOOD_REQUEST, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = post(api_client, body)
    assert response.status_code == 422, response.content
    error = response.json()
    assert error["code"] == "invalid_input"
    assert field in [e["field"] for e in error["errors"]]
    assert field in error["detail"]
    assert Evaluation.objects.count() == 0


def test_a_body_that_is_not_json_is_a_4xx_json(api_client):
    response = api_client.post(URL, data="question=hi", content_type="application/json")
    assert 400 <= response.status_code < 500
    assert "detail" in response.json()
    assert Evaluation.objects.count() == 0


def test_health_is_public_but_reports_each_part_only_to_authenticated_callers(client, api_client):
    # Issue 9: without credentials the probe says only ok / degraded / down.
    assert client.get("/api/v1/health", HTTP_AUTHORIZATION="").json() == {"status": "degraded"}
    body = api_client.get("/api/v1/health").json()
    assert body["database"]["ok"] is True
    assert body["llm"]["backend"] == "none"
    assert body["llm"]["ok"] is False
    assert body["status"] == "degraded"


def test_health_checks_the_llm_server(api_client, ollama):
    body = api_client.get("/api/v1/health").json()
    assert body["llm"]["ok"] is True
    assert body["llm"]["model"] == "llama3.2:3b"


def test_openapi_docs_are_served(client):
    assert client.get("/api/v1/docs").status_code == 200
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/evaluations" in schema["paths"]


def test_list_evaluations_filters_and_paginates(api_client, ollama, settings):
    for role in ("A", "B", "C"):
        post(api_client, {**GOOD_REQUEST, "role": role})
    settings.LLM_BACKEND = "none"
    post(api_client, {**GOOD_REQUEST, "language": "es"})
    body = api_client.get(f"{URL}?page_size=2").json()
    assert body["count"] == 4 and len(body["items"]) == 2
    assert body["items"][0]["source"] == "heuristic"  # newest first
    assert api_client.get(f"{URL}?page=2&page_size=3").json()["items"][0]["id"] == body["items"][0]["id"] - 3
    assert api_client.get(f"{URL}?source=llm").json()["count"] == 3
    assert api_client.get(f"{URL}?language=es&source=heuristic").json()["count"] == 1
    bad = api_client.get(f"{URL}?source=oracle")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "source"
