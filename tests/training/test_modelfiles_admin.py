"""The Modelfile admin through Django's test client: build form, change page, download, actions, Ollama models."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from evaluation.llm.prompts import build_system_prompt
from tests.llm_servers import DEFAULT_MODEL, FakeOllamaServer, closed_port_url
from training.modelfile import parse
from training.models import Modelfile
from training.services import modelfile_build, modelfile_push

from .modelfile_helpers import use_ollama, write_export

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:training_modelfile_changelist")
ADD = reverse("admin:training_modelfile_add")
MODELS = reverse("admin:training_modelfile_ollama_models")


@pytest.fixture
def ollama(settings, ollama_server: FakeOllamaServer, media_root: Path) -> FakeOllamaServer:
    use_ollama(settings, ollama_server.base_url)
    return ollama_server


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def form_data(**changes) -> dict:
    data = {
        "name": "ready4hire:v1",
        "base": DEFAULT_MODEL,
        "adapter": "",
        "language": "es",
        "dataset_export": "",
        "few_shot": "",
        "parameters": "temperature=0.1\nnum_ctx=8192\nstop=<|eot_id|>",
        "system": "",
        "template": "",
        "license": "",
    }
    data.update(changes)
    return data


def test_the_build_form_starts_with_the_defaults(admin_client, ollama) -> None:
    response = admin_client.get(ADD)
    assert response.status_code == 200
    form = response.context["form"]
    assert form["base"].value() == "llama3.2:3b"
    assert "temperature=0.1" in form["parameters"].value() and "num_ctx=4096" in form["parameters"].value()


def test_building_from_the_form_stores_it_with_exactly_the_given_parameters(admin_client, ollama) -> None:
    export = write_export(rows=[(2.0, "es"), (9.5, "es")])
    response = admin_client.post(ADD, form_data(dataset_export=export.pk, few_shot=2), follow=True)
    modelfile = Modelfile.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:training_modelfile_change", args=[modelfile.pk])
    assert f"Built Modelfile #{modelfile.pk} for ready4hire:v1." in messages_of(response)
    # The text is the whole set: defaults left out of it (top_p, repeat_penalty, num_predict) are not added back.
    assert modelfile.parameters == {"temperature": 0.1, "num_ctx": 8192, "stop": ["<|eot_id|>"]}
    assert modelfile.requested_by.username == "admin" and modelfile.few_shot == 2
    page = response.content.decode()
    assert "r4h-modelfile" in page and "PARAMETER num_ctx 8192" in page
    assert reverse("admin:training_modelfile_download", args=[modelfile.pk]) in page


def test_form_errors_point_at_the_field(admin_client, ollama) -> None:
    response = admin_client.post(ADD, form_data(parameters="temperature=0.1\nmirostat=2"))
    assert response.status_code == 200
    assert "Unknown parameter 'mirostat'" in response.context["form"].errors["parameters"][0]
    response = admin_client.post(ADD, form_data(name="two words"))
    assert "name" in response.context["form"].errors
    assert not Modelfile.objects.exists()


def test_building_with_push_and_validate(admin_client, ollama, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD, form_data(push="on", validate="on"), follow=True)
    assert "Queued: push and validate." in messages_of(response)[0]
    modelfile = Modelfile.objects.get()
    assert modelfile.push_status == "pushed" and modelfile.validation_status == "passed"
    page = admin_client.get(reverse("admin:training_modelfile_change", args=[modelfile.pk])).content.decode()
    assert "Valid JSON 6 of 6 (100.0%, minimum 90%)" in page and "Passed." in page


def test_the_change_page_is_read_only_and_downloads(admin_client, ollama) -> None:
    modelfile = modelfile_build(name="ready4hire:v1", base=DEFAULT_MODEL, system='Say """hi"""')
    response = admin_client.get(reverse("admin:training_modelfile_change", args=[modelfile.pk]))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    download = admin_client.get(reverse("admin:training_modelfile_download", args=[modelfile.pk]))
    assert download["Content-Disposition"] == 'attachment; filename="Modelfile"'
    assert download.content.decode() == modelfile.content


def test_actions_queue_push_and_validation(admin_client, ollama, django_capture_on_commit_callbacks) -> None:
    first = modelfile_build(name="ready4hire:v1", base=DEFAULT_MODEL)
    second = modelfile_build(name="ready4hire:v2", base=DEFAULT_MODEL)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {"action": "push_and_validate_selected", "_selected_action": [first.pk, second.pk]},
            follow=True,
        )
    assert "Queued the push and validation of ready4hire:v1, ready4hire:v2." in messages_of(response)
    for modelfile in (first, second):
        modelfile.refresh_from_db()
        assert modelfile.push_status == "pushed" and modelfile.validation_status == "passed"
    ollama.script(*["invalid_json"] * 6)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(CHANGELIST, {"action": "validate_selected", "_selected_action": [first.pk]})
    first.refresh_from_db()
    assert first.validation_status == "failed" and first.validation["valid_json_rate"] == 0.0


def test_a_failed_push_shows_its_error(admin_client, settings, media_root, django_capture_on_commit_callbacks) -> None:
    use_ollama(settings, closed_port_url())
    modelfile = modelfile_build(name="ready4hire:v1", base=DEFAULT_MODEL)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(CHANGELIST, {"action": "push_selected", "_selected_action": [modelfile.pk]})
    page = admin_client.get(reverse("admin:training_modelfile_change", args=[modelfile.pk])).content.decode()
    assert "r4h-error" in page and "ConnectError" in page


def test_the_ollama_models_page_lists_shows_and_deletes_after_confirmation(admin_client, ollama) -> None:
    modelfile = modelfile_push(modelfile_id=modelfile_build(name="ready4hire:v1", base=DEFAULT_MODEL).pk).modelfile
    listing = admin_client.get(MODELS)
    assert listing.status_code == 200
    names = [row["name"] for row in listing.context["models"]]
    assert names == [DEFAULT_MODEL, "ready4hire:v1"]
    assert MODELS in admin_client.get(CHANGELIST).content.decode()  # linked from the list page
    show = admin_client.get(reverse("admin:training_modelfile_ollama_show", args=["ready4hire:v1"]))
    assert show.status_code == 200 and show.context["info"]["system"] == build_system_prompt("es")
    delete_url = reverse("admin:training_modelfile_ollama_delete", args=["ready4hire:v1"])
    confirm = admin_client.get(delete_url)
    assert confirm.status_code == 200 and "Yes, delete it" in confirm.content.decode()
    assert "ready4hire:v1" in ollama.models  # nothing deleted by looking at the confirmation
    response = admin_client.post(delete_url, follow=True)
    assert "Deleted ready4hire:v1 from the Ollama server. 1 Modelfile marked not pushed." in messages_of(response)
    assert "ready4hire:v1" not in ollama.models
    modelfile.refresh_from_db()
    assert modelfile.push_status == "not_pushed"


def test_the_ollama_models_page_explains_an_unreachable_server(admin_client, settings, media_root) -> None:
    use_ollama(settings, closed_port_url())
    response = admin_client.get(MODELS)
    assert response.status_code == 200 and response.context["models"] == []
    assert "Listing the models on" in messages_of(response)[0]


def test_deleting_server_models_needs_the_delete_permission(client, django_user_model, ollama) -> None:
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_modelfile"))
    client.force_login(user)
    assert client.get(MODELS).status_code == 200
    delete_url = reverse("admin:training_modelfile_ollama_delete", args=[DEFAULT_MODEL])
    assert client.post(delete_url).status_code == 403
    assert DEFAULT_MODEL in ollama.models


def test_parse_of_the_built_content_round_trips(admin_client, ollama) -> None:
    admin_client.post(ADD, form_data(system="", language="en"))
    modelfile = Modelfile.objects.get()
    assert parse(modelfile.content).system == build_system_prompt("en")
