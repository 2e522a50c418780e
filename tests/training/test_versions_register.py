"""Models trained elsewhere come back as versions: `register_model --from (GGUF file | HF folder | Ollama
model) --dataset ID` and POST /api/v1/model-versions/register. A registered version carries its dataset
export and is promoted and routed like one trained here; a bad source registers nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evaluation.services import api_key_create
from training.finetune.deps import missing_train_packages
from training.models import ModelVersion
from training.selectors.versions import model_for_category
from training.services.versions import model_version_promote

from ..conftest import service_missing
from .factories import DatasetExportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(media_root):
    return DatasetExportFactory(name="ready4hire", train_count=10, val_count=2)


def register(*args: str) -> str:
    out = StringIO()
    call_command("register_model", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 16)
    return path


def test_a_gguf_file_is_registered_with_its_dataset(export, media_root):
    gguf = _gguf(media_root / "uploads" / "grader-q4.gguf")
    out = register("--name", "grader", "--from", str(gguf), "--dataset", str(export.pk))
    version = ModelVersion.objects.get()
    assert "Registered grader:v1" in out
    assert version.gguf_path == str(gguf.resolve()) and version.dataset_export == export
    assert version.origin == f"GGUF file {gguf.resolve()}" and version.status == ModelVersion.Status.DRAFT


def test_an_ollama_model_is_registered_then_promoted_and_routed(export):
    register("--name", "grader", "--from", "team/grader:q4_k_m", "--dataset", str(export.pk))
    version = ModelVersion.objects.get()
    assert version.served_name == "team/grader:q4_k_m" and version.status == ModelVersion.Status.CREATED
    model_version_promote(version=version, category="technical")
    assert model_for_category("technical") == "team/grader:q4_k_m"


def test_a_hugging_face_folder_is_converted_to_gguf_first(export, media_root):
    if missing_train_packages():
        service_missing("needs the [train] extra: pip install -e '.[train]'")
    from training.finetune.tiny import TinyShape, create_tiny_base

    folder = create_tiny_base(
        ["a tiny grader trained elsewhere"] * 20,
        media_root / "uploads" / "axolotl-merged",
        shape=TinyShape(vocab_size=300, hidden_size=32, intermediate_size=64, heads=2),
        seed=1,
    )
    register("--name", "grader", "--from", str(folder), "--dataset", str(export.pk))
    version = ModelVersion.objects.get()
    assert Path(version.gguf_path).read_bytes()[:4] == b"GGUF"
    assert version.origin == f"Hugging Face folder {folder.resolve()}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/etc/hosts.gguf", "paths must lie inside"),
        ("{media}/uploads/notes.gguf", "not a GGUF file"),
        ("{media}/uploads/missing.gguf", "does not exist"),
        # Without the [train] extra the same refusal names the extra instead.
        ("{media}/uploads/odd-model", r"cannot be converted to GGUF|needs the \[train\] extra"),
        ("not a model!", "neither a path nor an Ollama model name"),
    ],
)
def test_a_bad_source_registers_nothing(export, media_root, source, message):
    uploads = media_root / "uploads"
    (uploads / "odd-model").mkdir(parents=True)
    (uploads / "odd-model" / "config.json").write_text(json.dumps({"architectures": ["OddForCausalLM"]}))
    (uploads / "notes.gguf").write_text("not a model")
    with pytest.raises(CommandError, match=message):
        register("--name", "grader", "--from", source.format(media=media_root), "--dataset", str(export.pk))
    assert not ModelVersion.objects.exists()
    assert not (media_root / "finetune" / "registered").exists() or not any(
        (media_root / "finetune" / "registered").iterdir()
    )


def test_an_unknown_dataset_is_refused(export):
    with pytest.raises(CommandError, match="no dataset export has that id"):
        register("--name", "grader", "--from", "grader:latest", "--dataset", str(export.pk + 100))


def test_register_through_the_api_needs_the_train_scope(client, export):
    payload = {"name": "grader", "source": "grader:latest", "dataset_export_id": export.pk}
    _, review_key = api_key_create(name="reviewer", scopes=["review"])
    refused = client.post(
        "/api/v1/model-versions/register",
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {review_key}",
    )
    assert refused.status_code in (401, 403) and not ModelVersion.objects.exists()
    _, train_key = api_key_create(name="trainer", scopes=["train"])
    response = client.post(
        "/api/v1/model-versions/register",
        payload,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {train_key}",
    )
    assert response.status_code == 201, response.content
    assert response.json()["reference"] == "grader:v1" and response.json()["origin"] == "Ollama model grader:latest"
    bad = client.post(
        "/api/v1/model-versions/register",
        {**payload, "source": "/etc/passwd"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {train_key}",
    )
    assert bad.status_code == 422 and bad.json()["field"] == "source"


def test_register_from_the_admin_add_page(admin_client, export):
    url = "/admin/training/modelversion/add/"
    assert "Register a model trained elsewhere" in admin_client.get(url).content.decode()
    form = {"name": "grader", "source": "/etc/passwd", "dataset": export.pk, "category": "all"}
    refused = admin_client.post(url, form)
    assert refused.status_code == 200 and "paths must lie inside" in refused.content.decode()
    assert not ModelVersion.objects.exists()
    done = admin_client.post(url, {**form, "source": "grader:latest"})
    version = ModelVersion.objects.get()
    assert done.status_code == 302 and done.url.endswith(f"/modelversion/{version.pk}/change/")
    assert version.served_name == "grader:latest" and version.dataset_export == export
