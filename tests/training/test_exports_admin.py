"""Dataset exports in the admin: the new-export form (preview and start), the list, the page and downloads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from training.models import DatasetExport, JobStatus
from training.services import dataset_export_submit

from .factories import TrainingExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

FORM = {
    "name": "ready4hire",
    "format": "messages",
    "train_share": "0.8",
    "seed": "42",
    "review_statuses": ["approved"],
    "sources": ["human", "llm"],
}


def test_the_form_previews_examples_without_exporting(admin_client):
    TrainingExampleFactory.create_batch(4, review_status="approved", answer="Un índice evita recorrer la tabla.")
    add_url = reverse("admin:training_datasetexport_add")
    page = admin_client.get(add_url)
    assert page.status_code == 200
    assert "never to give a low score" in page.content.decode()  # why min_score is off by default

    response = admin_client.post(add_url, {**FORM, "_preview": "1"})
    content = response.content.decode()
    assert response.status_code == 200 and "Preview: the first 3 examples" in content
    assert "Un índice evita recorrer la tabla." in content
    # Turns, not the record's JSON: the shared system prompt folded away, the grade pretty-printed (issue 13).
    assert "System prompt (the same in every example)" in content and "&quot;score&quot;: " in content
    assert not DatasetExport.objects.exists()


def test_the_form_starts_an_export_on_a_worker(admin_client, admin_user, django_capture_on_commit_callbacks):
    TrainingExampleFactory.create_batch(5, review_status="approved")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:training_datasetexport_add"), {**FORM, "_export": "1"})
    export = DatasetExport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:training_datasetexport_change", args=[export.pk])
    assert export.status == JobStatus.DONE and export.requested_by == admin_user

    page = admin_client.get(response["Location"]).content.decode()
    assert "The first 3 training examples" in page
    assert reverse("admin:training_datasetexport_download", args=[export.pk, "manifest"]) in page
    assert "Save" not in page  # read-only: an export is a record of what was written

    download = admin_client.get(reverse("admin:training_datasetexport_download", args=[export.pk, "train"]))
    assert download.status_code == 200 and len(b"".join(download.streaming_content).splitlines()) == 4


def test_form_errors_stay_on_the_form(admin_client):
    TrainingExampleFactory(review_status="pending")
    add_url = reverse("admin:training_datasetexport_add")
    response = admin_client.post(add_url, {**FORM, "_export": "1"})
    assert response.status_code == 200 and "No examples match the filters" in response.content.decode()
    response = admin_client.post(add_url, {**FORM, "train_share": "1.5", "_export": "1"})
    assert "Ensure this value is less than or equal to 0.99" in response.content.decode()
    assert not DatasetExport.objects.exists()


def test_the_list_shows_status_progress_and_counts(admin_client):
    TrainingExampleFactory.create_batch(5, review_status="approved")
    done = dataset_export_submit(wait=True)
    pending = dataset_export_submit()
    content = admin_client.get(reverse("admin:training_datasetexport_changelist")).content.decode()
    assert str(done) in content and str(pending) in content
    # A pending export's state refreshes itself; the files moved to the change page to fit the list (issue 13).
    assert f'data-r4h-live="datasetexport-{pending.pk}-state" data-r4h-running' in content
    assert f'data-r4h-live="datasetexport-{done.pk}-state">Done' in content
    done_page = admin_client.get(reverse("admin:training_datasetexport_change", args=[done.pk])).content.decode()
    assert reverse("admin:training_datasetexport_download", args=[done.pk, "train"]) in done_page
    pending_page = admin_client.get(reverse("admin:training_datasetexport_change", args=[pending.pk])).content.decode()
    assert reverse("admin:training_datasetexport_download", args=[pending.pk, "train"]) not in pending_page


def test_downloading_an_unfinished_export_says_why(admin_client):
    TrainingExampleFactory.create_batch(3, review_status="approved")
    pending = dataset_export_submit()
    response = admin_client.get(
        reverse("admin:training_datasetexport_download", args=[pending.pk, "train"]), follow=True
    )
    assert "is pending, not done" in response.content.decode()


def test_a_reviewer_cannot_start_exports(reviewer_client):
    assert reviewer_client.get(reverse("admin:training_datasetexport_add")).status_code == 403
