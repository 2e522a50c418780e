"""Under ASGI (`make serve`) the request id and the JSON error bodies are the same as under WSGI: the project's
own middleware runs in the event loop there (ready4hire.middleware), so these go through Django's async
handler."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

import evaluation.api

pytestmark = pytest.mark.django_db


def call(method: str, path: str, api_key: str, **headers: str):
    return async_to_sync(getattr(AsyncClient(), method))(
        path, headers={"Authorization": f"Bearer {api_key}", **headers}
    )


def test_the_callers_request_id_is_echoed_and_a_bad_one_replaced(api_key):
    response = call("get", "/api/v1/evaluations/999999", api_key, **{"X-Request-ID": "trace-42.a"})
    assert response.status_code == 404
    assert response["X-Request-ID"] == "trace-42.a" and response.json()["request_id"] == "trace-42.a"
    forged = call("get", "/api/v1/evaluations/999999", api_key, **{"X-Request-ID": "x y" + "z" * 200})
    assert forged["X-Request-ID"] != "trace-42.a" and len(forged["X-Request-ID"]) == 32
    assert forged.json()["request_id"] == forged["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("get", "/api/v1/no-such-thing", 404, "not_found"), ("delete", "/api/v1/evaluations", 405, "method_not_allowed")],
)
def test_errors_outside_the_endpoints_are_json_with_the_request_id(api_key, method, path, status, code):
    response = call(method, path, api_key)
    assert response.status_code == status and response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code and response.json()["request_id"] == response["X-Request-ID"]


def test_a_crash_is_a_json_500_logged_under_the_request_id(api_key, monkeypatch, caplog):
    def crash(**kwargs):
        raise RuntimeError("the-secret")

    monkeypatch.setattr(evaluation.api, "evaluation_get", crash)
    with caplog.at_level(logging.ERROR, logger="ready4hire.api"):
        response = call("get", "/api/v1/evaluations/1", api_key)
    body = response.json()
    assert response.status_code == 500 and body["code"] == "server_error"
    assert body["request_id"] == response["X-Request-ID"] and "the-secret" not in response.content.decode()
    assert any(body["request_id"] in record.getMessage() and record.exc_info for record in caplog.records)
