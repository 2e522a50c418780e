"""Model versions through the API, the promote / retire / model_versions commands and the admin actions."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.admin import helpers
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.llm_servers import FakeOllamaServer, FakeOpenAIServer
from training.models import ModelVersion
from training.services import comparison_create_and_run, model_version_promote, model_version_register

from .comparison_helpers import ANSWERS, reviewed_example

pytestmark = pytest.mark.django_db

Status = ModelVersion.Status


@pytest.fixture(autouse=True)
def _settings(settings, media_root):
    settings.LLM_BACKEND = "none"
    settings.LLM_RETRY_BACKOFF = 0
    settings.COMPARISON_BOOTSTRAP_RESAMPLES = 100


@pytest.fixture
def failing():
    """ready4hire:v1, served as r4h-v1, which failed the gate of a comparison (a quarter of its grades broken)."""
    for answer, score in ANSWERS.items():
        reviewed_example(answer, score)
    version = model_version_register(served_name="r4h-v1")
    with FakeOllamaServer() as base, FakeOpenAIServer(models=("r4h-v1",)) as candidate:
        candidate.script("valid", "invalid_json")
        comparison_create_and_run(
            models=[
                ("base", f"llama3.2:3b@ollama+{base.base_url}"),
                ("ft", f"ready4hire:v1@openai+{candidate.base_url}"),
            ]
        )
    return version


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- API ------------------------------------------------------------------------------------------------------


def test_list_and_filter_versions(api_client):
    model_version_register(served_name="r4h-v1")
    model_version_promote(version=model_version_register(served_name="r4h-v2"), category="technical")
    listing = api_client.get("/api/v1/model-versions").json()
    assert [item["reference"] for item in listing] == ["ready4hire:v2", "ready4hire:v1"]
    active = api_client.get("/api/v1/model-versions?status=active").json()
    assert [(item["reference"], item["category"]) for item in active] == [("ready4hire:v2", "technical")]
    assert api_client.get("/api/v1/model-versions?status=bogus").status_code == 422


def test_promote_is_409_when_the_gate_refuses_and_force_records_it(api_client, failing):
    url = f"/api/v1/model-versions/{failing.pk}/promote"
    refused = api_client.post(url, {"category": "technical"}, content_type="application/json")
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "promotion_gate_failed" and "schema-valid rate 0.750 < 0.990" in body["detail"]

    forced = api_client.post(
        url, {"category": "technical", "force": True, "note": "hotfix"}, content_type="application/json"
    )
    assert forced.status_code == 200
    promoted = forced.json()
    assert (promoted["status"], promoted["category"], promoted["promotion_forced"]) == ("active", "technical", True)
    assert promoted["promotion_note"] == "[API key tests] hotfix" and promoted["promoted_at"]


def test_retire_and_the_4xx_of_the_version_endpoints(api_client):
    version = model_version_promote(version=model_version_register(served_name="r4h-v1"))
    retired = api_client.post(f"/api/v1/model-versions/{version.pk}/retire", {}, content_type="application/json")
    assert retired.status_code == 200 and retired.json()["status"] == "retired"

    assert api_client.post("/api/v1/model-versions/999/retire", {}, content_type="application/json").status_code == 404
    bad_category = api_client.post(
        f"/api/v1/model-versions/{version.pk}/promote", {"category": "sales"}, content_type="application/json"
    )
    assert bad_category.status_code == 422 and bad_category.json()["errors"][0]["field"] == "category"
    unserved = model_version_register(gguf_path="/runs/1/model.gguf")
    refused = api_client.post(f"/api/v1/model-versions/{unserved.pk}/promote", {}, content_type="application/json")
    assert refused.status_code == 422 and refused.json()["field"] == "served_name"


def test_a_staff_session_needs_the_change_permission_to_promote(client, django_user_model):
    version = model_version_register(served_name="r4h-v1")
    client.force_login(django_user_model.objects.create_user(username="viewer", is_staff=True))
    response = client.post(f"/api/v1/model-versions/{version.pk}/promote", {}, content_type="application/json")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


# --- commands -------------------------------------------------------------------------------------------------


def test_promote_retire_and_list_from_the_command_line(failing):
    other = model_version_register(served_name="r4h-v2")
    assert "ready4hire:v2 is now the active soft_skills grader." in run(
        "promote", "ready4hire:v2", "--category", "soft_skills"
    )
    with pytest.raises(CommandError, match="failed the promotion gate.*--force"):
        run("promote", "ready4hire:v1")
    assert "(forced past the promotion gate)" in run("promote", "ready4hire:v1", "--force", "--note", "known issue")

    listing = run("model_versions").splitlines()
    assert listing[0].split()[:4] == ["version", "kind", "status", "category"]
    assert listing[1].split()[:5] == ["ready4hire:v2", "finetuned", "active", "soft_skills", "r4h-v2"]
    assert "(forced)" in listing[2]

    assert "ready4hire:v2 is retired." in run("retire", "ready4hire:v2", "--note", "drifted")
    other.refresh_from_db()
    assert other.status == Status.RETIRED
    with pytest.raises(CommandError, match="no version 'ready4hire:v7'"):
        run("retire", "ready4hire:v7")


# --- admin ----------------------------------------------------------------------------------------------------


def action(admin_client, name: str, version: ModelVersion, **extra):
    data = {"action": name, helpers.ACTION_CHECKBOX_NAME: [version.pk], **extra}
    return admin_client.post(reverse("admin:training_modelversion_changelist"), data, follow=True)


def test_admin_promote_asks_for_confirmation_then_promotes(admin_client):
    version = model_version_register(served_name="r4h-v1", category="technical")
    page = action(admin_client, "promote_selected", version)
    assert "Promote ready4hire:v1?" in page.content.decode() and "not been compared" in page.content.decode()
    version.refresh_from_db()
    assert version.status == Status.DRAFT

    done = action(admin_client, "promote_selected", version, confirm="yes", category="technical", note="ok")
    assert "eady4hire:v1 is now the active technical grader." in done.content.decode()  # capitalised by the admin
    version.refresh_from_db()
    assert (version.status, version.promotion_note, version.promoted_by.username) == (Status.ACTIVE, "ok", "admin")


def test_admin_promote_of_a_gate_failing_version_offers_to_force_it(admin_client, failing):
    page = action(admin_client, "promote_selected", failing).content.decode()
    assert "failed the promotion gate" in page and "schema-valid rate 0.750 &lt; 0.990" in page
    assert 'name="force"' in page

    unforced = action(admin_client, "promote_selected", failing, confirm="yes", category="all").content.decode()
    assert "Promote it with force" in unforced
    failing.refresh_from_db()
    assert failing.status == Status.DRAFT

    forced = action(admin_client, "promote_selected", failing, confirm="yes", category="all", force="on", note="why")
    assert "(forced)" in forced.content.decode()
    failing.refresh_from_db()
    assert (failing.status, failing.promotion_forced) == (Status.ACTIVE, True)


def test_admin_retire_action_and_read_only_pages(admin_client):
    version = model_version_promote(version=model_version_register(served_name="r4h-v1"))
    assert "Retired ready4hire:v1." in action(admin_client, "retire_selected", version).content.decode()
    version.refresh_from_db()
    assert version.status == Status.RETIRED
    # issue 15: the add page registers a model trained elsewhere (its form, not a model form)
    added = admin_client.get(reverse("admin:training_modelversion_add"))
    assert added.status_code == 200 and "Register a model trained elsewhere" in added.content.decode()
    assert admin_client.get(reverse("admin:training_modelversion_change", args=[version.pk])).status_code == 200
