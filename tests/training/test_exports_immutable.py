"""Exports are immutable: a version number is never given twice (even after a deletion), deleting an export
removes its files or is refused while a fine-tune run was trained on it, from the API and the admin."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from training.models import DatasetExport, JobStatus, ModelVersion
from training.services.exports import dataset_export_delete, dataset_export_submit
from training.services.numbering import version_number_next
from training.services.versions import model_version_register

from .factories import DatasetExportFactory, FineTuneRunFactory, TrainingExampleFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/datasets"


@pytest.fixture
def approved(media_root):
    TrainingExampleFactory.create_batch(6, review_status="approved")


def export_now(name: str = "grader") -> DatasetExport:
    return dataset_export_submit(name=name, wait=True)


def files_of(export: DatasetExport, media_root: Path) -> list[Path]:
    return [media_root / entry["path"] for entry in export.files.values()]


def test_a_deleted_exports_number_is_never_given_again(approved, media_root, django_capture_on_commit_callbacks):
    first, second = export_now(), export_now()
    assert (first.version, second.version) == (1, 2)
    first_train = (media_root / first.files["train"]["path"]).read_bytes()
    with django_capture_on_commit_callbacks(execute=True):  # the files go once the deletion is committed
        dataset_export_delete(export_id=second.pk)
    third = export_now()
    assert third.version == 3
    assert not (media_root / "datasets" / "grader" / "v2").exists()
    # v1's files were never touched by the later exports.
    assert (media_root / first.files["train"]["path"]).read_bytes() == first_train
    assert export_now(name="other").version == 1  # each name counts on its own


def test_numbering_continues_after_rows_made_before_counters_existed():
    DatasetExportFactory(name="legacy", version=7)
    assert version_number_next(model=DatasetExport, name="legacy") == 8
    assert version_number_next(model=DatasetExport, name="legacy") == 9


def test_model_versions_share_the_numbering():
    first = model_version_register(name="r4h", served_name="r4h-v1")
    first.delete()
    assert model_version_register(name="r4h", served_name="r4h-v2").version == 2
    assert ModelVersion.objects.get().reference == "r4h:v2"


def test_delete_over_the_api_removes_the_files(api_client, approved, media_root, django_capture_on_commit_callbacks):
    export = export_now()
    paths = files_of(export, media_root)
    assert paths and all(path.is_file() for path in paths)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.delete(f"{BASE}/{export.pk}")
    assert response.status_code == 204
    assert not any(path.exists() for path in paths)
    assert not (media_root / "datasets" / "grader" / "v1").exists()
    assert api_client.get(f"{BASE}/{export.pk}").status_code == 404
    assert api_client.delete(f"{BASE}/{export.pk}").status_code == 404


def test_an_export_a_fine_tune_run_used_is_kept(api_client, approved, media_root):
    export = export_now()
    run = FineTuneRunFactory(dataset_export=export)
    response = api_client.delete(f"{BASE}/{export.pk}")
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert f"fine-tune run(s) {run.pk}" in response.json()["detail"]
    assert DatasetExport.objects.filter(pk=export.pk).exists()
    assert all(path.is_file() for path in files_of(export, media_root))


def test_an_export_being_written_cannot_be_deleted(api_client):
    export = DatasetExportFactory(status=JobStatus.RUNNING)
    response = api_client.delete(f"{BASE}/{export.pk}")
    assert response.status_code == 409 and "cancel it" in response.json()["detail"]
    assert DatasetExport.objects.filter(pk=export.pk).exists()


def test_a_staff_session_needs_the_delete_permission(client, django_user_model, approved):
    export = export_now()
    staff = django_user_model.objects.create_user("viewer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_datasetexport"))
    client.force_login(staff)
    response = client.delete(f"{BASE}/{export.pk}")
    assert response.status_code == 403 and "delete_datasetexport" in response.json()["detail"]
    assert DatasetExport.objects.filter(pk=export.pk).exists()


def test_delete_in_the_admin_removes_the_files_and_refuses_a_used_export(
    admin_client, approved, media_root, django_capture_on_commit_callbacks
):
    export, used = export_now(), export_now()
    FineTuneRunFactory(dataset_export=used)
    url = f"/admin/training/datasetexport/{export.pk}/delete/"
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not DatasetExport.objects.filter(pk=export.pk).exists()
    assert not (media_root / "datasets" / "grader" / "v1").exists()

    refused = admin_client.post(f"/admin/training/datasetexport/{used.pk}/delete/", {"post": "yes"})
    assert refused.status_code == 200 and "Cannot delete" in refused.content.decode()
    assert DatasetExport.objects.filter(pk=used.pk).exists()
    assert (media_root / "datasets" / "grader" / "v2").is_dir()


def test_the_admin_refuses_to_delete_a_running_export(admin_client):
    export = DatasetExportFactory(status=JobStatus.RUNNING)
    page = admin_client.post(f"/admin/training/datasetexport/{export.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200 and "cancel it first" in page.content.decode()
    assert DatasetExport.objects.filter(pk=export.pk).exists()
