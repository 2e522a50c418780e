"""Errors under /api/ are JSON, always: a crash (with DEBUG on or off), an unknown path, a wrong method; each
with a request id, in the body and the X-Request-ID header, and never a traceback."""

from __future__ import annotations

import logging

import pytest

import evaluation.api

pytestmark = pytest.mark.django_db

SECRET = "the-secret-inside-the-exception-text"


@pytest.fixture
def crashing_detail(monkeypatch):
    def crash(**kwargs):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(evaluation.api, "evaluation_get", crash)


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_exception_is_a_json_500_with_a_request_id_and_no_traceback(
    api_client, crashing_detail, settings, debug, caplog
):
    settings.DEBUG = debug
    with caplog.at_level(logging.ERROR, logger="ready4hire.api"):
        response = api_client.get("/api/v1/evaluations/1")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "server_error" and body["detail"]
    assert body["request_id"] and response["X-Request-ID"] == body["request_id"]
    text = response.content.decode()
    assert SECRET not in text and "Traceback" not in text and "RuntimeError" not in text
    # The operator gets the whole story in the log, under the same request id.
    assert any(body["request_id"] in record.getMessage() and record.exc_info for record in caplog.records)


def test_the_callers_request_id_is_echoed_and_a_bad_one_replaced(api_client, crashing_detail):
    response = api_client.get("/api/v1/evaluations/1", HTTP_X_REQUEST_ID="trace-42.a")
    assert response["X-Request-ID"] == "trace-42.a" and response.json()["request_id"] == "trace-42.a"
    forged = api_client.get("/api/v1/evaluations/1", HTTP_X_REQUEST_ID="x\r\nSet-Cookie: a=b" + "y" * 200)
    assert forged["X-Request-ID"] != "trace-42.a" and len(forged["X-Request-ID"]) == 32
    assert forged.json()["request_id"] == forged["X-Request-ID"]


def test_every_response_has_a_request_id(client):
    first, second = client.get("/api/v1/health"), client.get("/api/v1/health")
    assert first["X-Request-ID"] and first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_a_json_404(api_client, settings, debug):
    settings.DEBUG = debug
    response = api_client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found" and response.json()["request_id"] == response["X-Request-ID"]
    assert "<html" not in response.content.decode().lower()


def test_a_wrong_method_is_a_json_405(api_client):
    response = api_client.delete("/api/v1/evaluations")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed" and "Allow" in response


def test_domain_and_validation_errors_carry_the_request_id(api_client):
    missing = api_client.get("/api/v1/evaluations/999999")
    assert missing.status_code == 404 and missing.json()["request_id"] == missing["X-Request-ID"]
    invalid = api_client.get("/api/v1/evaluations", {"status": "sleeping"})
    assert invalid.status_code == 422 and invalid.json()["field"] == "status"
    assert invalid.json()["request_id"] == invalid["X-Request-ID"]


def test_pages_outside_the_api_keep_their_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")
