"""Modelfiles over the API (/api/v1/modelfiles): build, list, read, download, push and validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from evaluation.llm.prompts import build_system_prompt
from tests.llm_servers import DEFAULT_MODEL, FakeOllamaServer
from training.modelfile import parse
from training.models import Modelfile

from .modelfile_helpers import use_ollama, write_export

pytestmark = pytest.mark.django_db

BASE = "/api/v1/modelfiles"


@pytest.fixture
def ollama(settings, ollama_server: FakeOllamaServer, media_root: Path) -> FakeOllamaServer:
    use_ollama(settings, ollama_server.base_url)
    return ollama_server


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def test_build_returns_the_rendered_modelfile(api_client, ollama) -> None:
    export = write_export(rows=[(2.0, "en"), (8.0, "en"), (9.5, "en")])
    response = post(
        api_client,
        BASE,
        {
            "name": "ready4hire:v1",
            "from": DEFAULT_MODEL,
            "language": "en",
            "parameters": {"temperature": 0.2, "stop": ["<|eot_id|>"]},
            "dataset_export_id": export.pk,
            "few_shot": 2,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    spec = parse(body["content"])
    assert spec.from_ == DEFAULT_MODEL and spec.system == build_system_prompt("en") and len(spec.messages) == 4
    assert body["parameters"]["temperature"] == 0.2 and body["parameters"]["stop"] == ["<|eot_id|>"]
    assert body["few_shot"] == 2 and body["dataset_export_id"] == export.pk and body["push_status"] == "not_pushed"
    assert body["download_url"] == f"{BASE}/{body['id']}/download"
    assert ollama.requests == []  # building needs no server


def test_an_unknown_parameter_is_a_422_naming_it(api_client) -> None:
    response = post(api_client, BASE, {"name": "ready4hire:v1", "from": DEFAULT_MODEL, "parameters": {"typical_p": 1}})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input" and body["field"] == "parameters.typical_p"
    assert "typical_p" in body["detail"]
    assert not Modelfile.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "ready4hire:v1"}, "from"),
        ({"name": "bad name", "from": DEFAULT_MODEL}, "name"),
        ({"name": "ready4hire:v1", "from": DEFAULT_MODEL, "few_shot": 50}, "few_shot"),
        ({"name": "ready4hire:v1", "from": DEFAULT_MODEL, "dataset_export_id": 404}, "dataset_export_id"),
        ({"name": "ready4hire:v1", "from": DEFAULT_MODEL, "language": "fr"}, "language"),
    ],
)
def test_bad_input_is_a_422_with_the_field(api_client, body: dict, field: str) -> None:
    response = post(api_client, BASE, body)
    assert response.status_code == 422, response.content
    payload = response.json()
    fields = {payload.get("field"), *(error["field"] for error in payload.get("errors", []))}
    assert field in fields


def test_build_with_push_and_validate_is_accepted_and_runs(
    api_client, ollama, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            api_client, BASE, {"name": "ready4hire:v1", "from": DEFAULT_MODEL, "push": True, "validate": True}
        )
    assert response.status_code == 202
    detail = api_client.get(f"{BASE}/{response.json()['id']}").json()
    assert detail["push_status"] == "pushed" and detail["validation_status"] == "passed"
    assert detail["validation"]["valid_json_rate"] == 1.0 and detail["validation"]["model_present"] is True
    assert ollama.create_requests[-1].body["model"] == "ready4hire:v1"


def test_push_without_a_server_is_a_503_that_says_what_to_set(api_client, settings) -> None:
    settings.OLLAMA_ADMIN_URL = ""
    created = post(api_client, BASE, {"name": "ready4hire:v1", "from": DEFAULT_MODEL}).json()
    response = post(api_client, f"{BASE}/{created['id']}/push")
    assert response.status_code == 503 and response.json()["code"] == "ollama_not_configured"
    assert "OLLAMA_ADMIN_URL" in response.json()["detail"]


def test_push_then_validate_endpoints(api_client, ollama, django_capture_on_commit_callbacks) -> None:
    created = post(api_client, BASE, {"name": "ready4hire:v1", "from": DEFAULT_MODEL}).json()
    with django_capture_on_commit_callbacks(execute=True):
        pushed = post(api_client, f"{BASE}/{created['id']}/push")
    assert pushed.status_code == 202
    assert api_client.get(f"{BASE}/{created['id']}").json()["push_status"] == "pushed"
    ollama.script("invalid_json", "invalid_json")
    with django_capture_on_commit_callbacks(execute=True):
        validated = post(api_client, f"{BASE}/{created['id']}/validate")
    assert validated.status_code == 202
    detail = api_client.get(f"{BASE}/{created['id']}").json()
    assert detail["validation_status"] == "failed" and detail["validation"]["valid_json"] == 4


def test_list_filters_and_paginates(api_client, ollama) -> None:
    for index in range(3):
        post(api_client, BASE, {"name": f"ready4hire:v{index}", "from": DEFAULT_MODEL})
    body = api_client.get(f"{BASE}?page_size=2").json()
    assert body["count"] == 3 and [item["name"] for item in body["items"]] == ["ready4hire:v2", "ready4hire:v1"]
    assert "content" not in body["items"][0]
    assert api_client.get(f"{BASE}?name=ready4hire:v0").json()["count"] == 1
    assert api_client.get(f"{BASE}?push_status=pushed").json()["count"] == 0


def test_download_is_a_plain_text_attachment(api_client, ollama) -> None:
    created = post(api_client, BASE, {"name": "ready4hire:v1", "from": DEFAULT_MODEL}).json()
    response = api_client.get(created["download_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Modelfile"'
    assert response.content.decode() == created["content"]


def test_unknown_ids_are_404(api_client) -> None:
    assert api_client.get(f"{BASE}/999").status_code == 404
    assert api_client.get(f"{BASE}/999/download").status_code == 404
    assert post(api_client, f"{BASE}/999/push").status_code == 404


def test_staff_need_the_modelfile_permissions(client, django_user_model) -> None:
    user = django_user_model.objects.create_user(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_modelfile"))
    client.force_login(user)
    response = post(client, BASE, {"name": "ready4hire:v1", "from": DEFAULT_MODEL})
    assert response.status_code == 403 and "training.add_modelfile" in response.json()["detail"]
    assert client.get(BASE).status_code == 200


def test_everything_needs_a_key_or_a_staff_session(client) -> None:
    assert client.get(BASE).status_code == 401
