"""A model version records the prompt it was trained with: from its dataset export (a fine-tune run's version,
`register_model` by default) or as told (`register_model --prompt`, the API, the admin); a Modelfile built on
a compact export carries the compact prompt as SYSTEM, and so does a compact run's own Modelfile."""

from __future__ import annotations

import io
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from evaluation.llm.prompts import build_system_prompt
from evaluation.services import api_key_create
from tests.llm_servers import FakeOllamaServer
from training.finetune.deps import missing_train_packages
from training.modelfile import parse
from training.models import DatasetExport, FineTuneRun, JobStatus, Modelfile, ModelVersion
from training.services import model_version_register
from training.services.modelfile_validation import model_validate

from ..conftest import service_missing
from .factories import DatasetExportFactory, TrainingExampleFactory
from .modelfile_helpers import use_ollama

pytestmark = pytest.mark.django_db

COMPACT_EN = build_system_prompt("en", "compact")


@pytest.fixture
def compact_export(media_root) -> DatasetExport:
    return DatasetExportFactory(name="compact", train_count=10, val_count=2, prompt_variant="compact")


def register(*args: str) -> str:
    out = StringIO()
    call_command("register_model", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_register_model_takes_the_dataset_exports_prompt_by_default(compact_export):
    out = register("--name", "grader", "--from", "team/grader:q4", "--dataset", str(compact_export.pk))
    assert ModelVersion.objects.get().prompt_variant == "compact" and "compact prompt" in out


def test_register_model_prompt_overrides_the_exports(compact_export):
    register("--name", "grader", "--from", "team/grader:q4", "--dataset", str(compact_export.pk), "--prompt", "full")
    assert ModelVersion.objects.get().prompt_variant == "full"


def test_register_model_refuses_an_unknown_prompt(compact_export):
    with pytest.raises(CommandError, match="--prompt: invalid choice: 'short'"):
        register(
            "--name", "grader", "--from", "team/grader:q4", "--dataset", str(compact_export.pk), "--prompt", "short"
        )
    assert not ModelVersion.objects.exists()


def test_the_api_registers_with_a_prompt_and_shows_it(client, compact_export):
    _, key = api_key_create(name="trainer", scopes=["train"])
    url = "/api/v1/model-versions/register"
    body = {"name": "grader", "source": "team/grader:q4", "dataset_export_id": compact_export.pk}
    headers = {"Authorization": f"Bearer {key}"}
    defaulted = client.post(url, body, content_type="application/json", headers=headers)
    told = client.post(url, {**body, "prompt_variant": "full"}, content_type="application/json", headers=headers)
    refused = client.post(url, {**body, "prompt_variant": "short"}, content_type="application/json", headers=headers)

    assert defaulted.status_code == 201 and defaulted.json()["prompt_variant"] == "compact"
    assert told.status_code == 201 and told.json()["prompt_variant"] == "full"
    assert refused.status_code == 422 and "prompt_variant" in json.dumps(refused.json())
    listed = client.get("/api/v1/model-versions", headers=headers).json()
    assert sorted(version["prompt_variant"] for version in listed) == ["compact", "full"]


def test_the_admin_registers_with_a_prompt_and_shows_it(admin_client, compact_export):
    url = reverse("admin:training_modelversion_add")
    form = {"name": "grader", "source": "team/grader:q4", "dataset": compact_export.pk, "category": "all"}
    assert admin_client.post(url, {**form, "prompt_variant": ""}).status_code == 302
    assert admin_client.post(url, {**form, "prompt_variant": "full"}).status_code == 302
    first, second = ModelVersion.objects.order_by("version")
    assert (first.prompt_variant, second.prompt_variant) == ("compact", "full")
    page = admin_client.get(reverse("admin:training_modelversion_change", args=[first.pk])).content.decode()
    assert "Compact (for fine-tuned graders)" in page


def test_a_modelfile_built_on_a_compact_export_has_the_compact_system_prompt(media_root, tmp_path):
    TrainingExampleFactory.create_batch(8, review_status="approved", language="en")
    call_command("export_dataset", "--prompt", "compact", stdout=StringIO())
    export = DatasetExport.objects.get()
    path = tmp_path / "Modelfile"
    call_command(
        "build_modelfile", "--from", "llama3.2:3b", "--name", "grader:v1", "--dataset", str(export.pk),
        "--few-shot", "2", "--language", "en", "-o", str(path), stdout=StringIO(),
    )  # fmt: skip
    spec = parse(path.read_text(encoding="utf-8"))
    assert spec.system == COMPACT_EN
    assert len(spec.messages) == 4  # the few-shot pairs come from the compact rows
    assert Modelfile.objects.get().prompt_version.endswith("+compact")


def test_a_full_export_still_builds_the_full_system_prompt(media_root, tmp_path):
    TrainingExampleFactory.create_batch(8, review_status="approved", language="en")
    call_command("export_dataset", stdout=StringIO())
    path = tmp_path / "Modelfile"
    call_command(
        "build_modelfile", "--from", "llama3.2:3b", "--name", "grader:v1", "--dataset",
        str(DatasetExport.objects.get().pk), "--few-shot", "2", "--language", "en", "-o", str(path), stdout=StringIO(),
    )  # fmt: skip
    assert parse(path.read_text(encoding="utf-8")).system == build_system_prompt("en")


@pytest.mark.django_db(transaction=True)  # the command trains in a worker thread that must see the rows
def test_a_fine_tune_on_a_compact_export_registers_a_compact_version_with_a_compact_modelfile(media_root):
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")
    TrainingExampleFactory.create_batch(10, review_status="approved", language="en")
    call_command("export_dataset", "--prompt", "compact", stdout=StringIO())
    export = DatasetExport.objects.get()

    call_command(
        "finetune", "--dataset", str(export.pk), "--init-tiny", "--steps", "2", "--no-progress", stdout=io.StringIO()
    )

    run = FineTuneRun.objects.get()
    assert run.status == JobStatus.DONE, run.error
    tuned = ModelVersion.objects.get(kind=ModelVersion.Kind.FINETUNED)
    assert tuned.prompt_variant == "compact"
    modelfile = parse((media_root / run.outputs["modelfile"]).read_text(encoding="utf-8"))
    assert modelfile.system == COMPACT_EN


def test_validating_a_compact_version_asks_it_with_the_compact_prompt(settings, compact_export):
    model_version_register(served_name="grader:q4", dataset_export=compact_export)
    with FakeOllamaServer(models=("grader:q4", "llama3.2:3b")) as server:
        use_ollama(settings, server.base_url)
        report = model_validate(name="grader:q4")
        full = model_validate(name="llama3.2:3b")  # no version of ours: the full prompt
        systems = [(r.body["model"], r.body["messages"][0]["content"]) for r in server.chat_requests]
    assert report.passed and full.passed
    assert {system for model, system in systems if model == "grader:q4"} == {
        build_system_prompt(language, "compact") for language in ("es", "en")
    }
    assert {system for model, system in systems if model == "llama3.2:3b"} == {
        build_system_prompt(language) for language in ("es", "en")
    }
