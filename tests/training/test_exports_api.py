"""Dataset exports over the API at /api/v1/datasets: start (202, a task writes it), list, read, download."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.contrib.auth.models import Permission

from tests.celery_worker import job_wait
from training.models import DatasetExport, JobStatus

from .factories import TrainingExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

BASE = "/api/v1/datasets"


def post(client, body):
    return client.post(BASE, data=json.dumps(body), content_type="application/json")


def test_exports_need_a_key_or_a_staff_session(client):
    assert client.get(BASE).status_code == 401
    assert post(client, {}).status_code == 401


def test_start_an_export_then_read_and_download_it(api_client, django_capture_on_commit_callbacks):
    TrainingExampleFactory.create_batch(6, review_status="approved")
    TrainingExampleFactory.create_batch(3, review_status="approved", category="soft_skills")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(api_client, {"name": "grader", "format": "alpaca", "seed": 3, "train_share": 0.8})
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "pending" and accepted["version"] == 1 and accepted["requested_by"] == "API key tests"
    assert len(callbacks) == 1  # the task was queued on commit; Celery runs eagerly in tests

    detail = api_client.get(f"{BASE}/{accepted['id']}").json()
    assert detail["status"] == "done" and detail["progress"] == 100
    assert (detail["train_count"], detail["val_count"]) == (7, 2)
    assert detail["counts"]["val"]["by_category"] == {"soft_skills": 1, "technical": 1}
    assert detail["files"]["train"]["url"] == f"{BASE}/{accepted['id']}/files/train"

    download = api_client.get(detail["files"]["train"]["url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="grader_train.jsonl"'
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == detail["files"]["train"]["sha256"]
    assert len(body.splitlines()) == 7 and set(json.loads(body.splitlines()[0])) == {"instruction", "input", "output"}

    manifest = json.loads(b"".join(api_client.get(f"{BASE}/{accepted['id']}/files/manifest").streaming_content))
    assert manifest["val_count"] == 2 and manifest["seed"] == 3
    assert api_client.get(f"{BASE}/{accepted['id']}/files/val").status_code == 200


def test_unknown_files_and_unfinished_exports_answer_404_json(api_client, django_capture_on_commit_callbacks):
    TrainingExampleFactory.create_batch(4, review_status="approved")
    pending = post(api_client, {}).json()  # its task is queued on commit, which never comes here
    response = api_client.get(f"{BASE}/{pending['id']}/files/train")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert "pending" in response.json()["detail"]

    with django_capture_on_commit_callbacks(execute=True):
        done = post(api_client, {}).json()
    response = api_client.get(f"{BASE}/{done['id']}/files/passwords")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert api_client.get(f"{BASE}/999999").json()["code"] == "not_found"


def test_the_list_is_newest_first_and_paginated(api_client):
    TrainingExampleFactory.create_batch(3, review_status="approved")
    for _ in range(3):
        post(api_client, {"name": "a"})
    post(api_client, {"name": "b"})
    body = api_client.get(BASE, {"page_size": 2}).json()
    assert body["count"] == 4
    assert [(item["name"], item["version"]) for item in body["items"]] == [("b", 1), ("a", 3)]
    second = api_client.get(BASE, {"page_size": 2, "page": 2}).json()
    assert [(item["name"], item["version"]) for item in second["items"]] == [("a", 2), ("a", 1)]
    assert api_client.get(BASE, {"name": "b"}).json()["count"] == 1


def test_nothing_to_export_and_bad_input_are_422(api_client):
    TrainingExampleFactory(review_status="pending")
    response = post(api_client, {})
    assert response.status_code == 422 and "No examples match" in response.json()["detail"]
    assert not DatasetExport.objects.exists()

    # Issue 13: the filters go inside `filters`, as the README documents; flat ones are unknown fields.
    for body, field in (
        ({"format": "csv"}, "format"),
        ({"train_share": 1}, "train_share"),
        ({"filters": {"categories": ["cooking"]}}, "filters.categories.0"),
        ({"filters": {"min_score": 12}}, "filters.min_score"),
        ({"min_score": 5}, "min_score"),
        ({"filters": {"sources": ["llm"], "lang": "en"}}, "filters.lang"),
    ):
        response = post(api_client, body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field


def test_a_staff_session_needs_the_add_permission(client, django_user_model):
    TrainingExampleFactory.create_batch(3, review_status="approved")
    staff = django_user_model.objects.create_user(username="sam", is_staff=True)
    client.force_login(staff)
    response = post(client, {})
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    # Issue 9: reading exports needs the permission the admin asks for to show them.
    assert client.get(BASE).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_datasetexport"))
    assert client.get(BASE).status_code == 200
    assert DatasetExport.objects.filter(status=JobStatus.PENDING).count() == 0


@pytest.mark.celery_worker
def test_a_real_worker_on_the_exports_queue_writes_the_export(celery_worker_factory, api_client, media_root):
    TrainingExampleFactory.create_batch(6, review_status="approved")
    # Only the `exports` queue is consumed: the export reaches the worker only if its route sends it there.
    with celery_worker_factory(extra_env={"MEDIA_ROOT": str(media_root)}, queues="exports"):
        accepted = post(api_client, {"name": "queued"}).json()
        body = job_wait(api_client, f"{BASE}/{accepted['id']}")
    assert body["status"] == "done", body
    assert (media_root / body["files"]["train"]["path"]).is_file()
