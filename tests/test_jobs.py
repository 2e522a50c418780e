"""The shared job lifecycle (ready4hire/jobs.py), in-process: the sweeper's take-back, bounded attempts and
outbox dispatch, an export restarted cleanly, cancellation over the API and the admin, a broker that is down,
and Celery's routing. The real-worker cases (kill -9, broker back, database dropped) are in test_jobs_worker.py.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation.models import Evaluation
from ready4hire.celery import app as celery_app
from ready4hire.jobs import JobClaim, jobs_sweep
from tests.celery_worker import celery_broker
from tests.evaluation.factories import EvaluationFactory
from tests.evaluation.test_api import GOOD_REQUEST, URL
from tests.training.factories import FineTuneRunFactory, TrainingExampleFactory
from training.models import ComparisonRun, DatasetExport, FineTuneRun, JobStatus
from training.services.exports import dataset_export_if_due, dataset_export_run, dataset_export_submit

pytestmark = pytest.mark.django_db
CLOSED_PORT_BROKER = "redis://127.0.0.1:9/10"  # the discard port: nothing listens, connections are refused


def _long_ago(seconds: float = 3600):
    return timezone.now() - timedelta(seconds=seconds)


def _abandoned(model, pk: int, *, attempts: int) -> None:
    """What a worker killed mid-job leaves: the row running, its heartbeat stopped long ago."""
    model.objects.filter(pk=pk).update(
        status="running", started_at=_long_ago(), heartbeat_at=_long_ago(), job_attempts=attempts
    )


def _export_with_leftovers(media_root) -> DatasetExport:
    TrainingExampleFactory.create_batch(6, review_status="approved")
    export = dataset_export_submit(name="nightly")  # queued: its dispatch waits for a commit
    directory = media_root / "datasets" / "nightly" / f"v{export.version}"
    directory.mkdir(parents=True)
    (directory / ".nightly_train.jsonl.4242.part").write_bytes(b'{"half a line')
    return export


def test_a_stale_evaluation_is_taken_back_and_graded():
    evaluation = EvaluationFactory()
    _abandoned(Evaluation, evaluation.pk, attempts=1)

    report = jobs_sweep()["evaluation"]

    evaluation.refresh_from_db()
    assert report.requeued == [evaluation.pk] and report.dispatched == [evaluation.pk]
    assert evaluation.status == "done" and evaluation.score is not None
    assert evaluation.job_attempts == 2


def test_the_sweeper_fails_a_job_with_the_reason_after_its_last_attempt():
    evaluation = EvaluationFactory()
    _abandoned(Evaluation, evaluation.pk, attempts=3)

    assert jobs_sweep()["evaluation"].failed == [evaluation.pk]

    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert evaluation.error == "gave up after 3 attempts: its worker stopped answering (no heartbeat for 90 s)"


def test_a_job_running_past_its_limit_is_taken_back_even_with_a_fresh_heartbeat(settings):
    settings.JOB_LIMITS = {"evaluation": {"max_runtime": 60}}
    evaluation = EvaluationFactory()
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status="running", started_at=_long_ago(120), heartbeat_at=timezone.now(), job_attempts=3
    )
    jobs_sweep()
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert evaluation.error == "gave up after 3 attempts: ran longer than its limit of 60 s"


def test_a_live_job_is_left_alone():
    evaluation = EvaluationFactory()
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status="running", started_at=timezone.now(), heartbeat_at=timezone.now(), job_attempts=1
    )
    assert jobs_sweep()["evaluation"].requeued == []
    evaluation.refresh_from_db()
    assert evaluation.status == "running"


def test_the_sweeper_dispatches_what_was_never_dispatched():
    waiting = EvaluationFactory()
    Evaluation.objects.filter(pk=waiting.pk).update(created_at=_long_ago(60))
    just_now = EvaluationFactory()  # its request's own dispatch runs on commit: not the sweeper's yet

    assert jobs_sweep()["evaluation"].dispatched == [waiting.pk]

    waiting.refresh_from_db()
    just_now.refresh_from_db()
    assert waiting.status == "done" and waiting.dispatched_at is not None
    assert just_now.status == "pending"


def test_an_export_is_restarted_cleanly_and_never_blocks_the_periodic_export(media_root):
    export = _export_with_leftovers(media_root)
    _abandoned(DatasetExport, export.pk, attempts=1)

    jobs_sweep()

    export.refresh_from_db()
    directory = media_root / "datasets" / "nightly" / f"v{export.version}"
    assert export.status == "done" and export.job_attempts == 2
    assert not list(directory.glob("*.part")) and (directory / "manifest.json").is_file()
    TrainingExampleFactory.create_batch(3, review_status="approved")
    assert dataset_export_if_due(name="nightly", min_new=1) is not None


def test_an_export_that_keeps_dying_fails_with_its_files_removed_and_frees_the_schedule(media_root):
    export = _export_with_leftovers(media_root)
    _abandoned(DatasetExport, export.pk, attempts=3)

    assert jobs_sweep()["dataset_export"].failed == [export.pk]

    export.refresh_from_db()
    assert export.status == "failed" and export.error.startswith("gave up after 3 attempts")
    assert not (media_root / "datasets" / "nightly" / f"v{export.version}").exists()
    assert dataset_export_if_due(name="nightly", min_new=1) is not None


def test_a_running_export_stops_at_its_next_progress_when_cancelled(media_root, settings, monkeypatch):
    settings.DATASET_EXPORT_CHUNK_SIZE = 1
    TrainingExampleFactory.create_batch(20, review_status="approved")
    export = dataset_export_submit(name="big")
    progress = JobClaim.progress

    def cancelled_meanwhile(claim, percent=None, **fields):
        if (percent or 0) > 20:
            DatasetExport.objects.filter(pk=claim.row.pk).update(status="cancelled")  # the API, meanwhile
        return progress(claim, percent, **fields)

    monkeypatch.setattr(JobClaim, "progress", cancelled_meanwhile)

    stopped = dataset_export_run(export_id=export.pk)

    assert stopped.status == "cancelled" and 0 < stopped.progress < 100  # stopped partway
    assert not (media_root / "datasets" / "big" / "v1").exists()


def test_cancel_over_the_api(api_client, media_root):
    TrainingExampleFactory.create_batch(4, review_status="approved")
    export = dataset_export_submit()
    (media_root / "datasets" / "ready4hire" / "v1").mkdir(parents=True)
    run = FineTuneRunFactory(status="running", dataset_export=export)
    comparison = ComparisonRun.objects.create(contenders=[], status="pending")

    for url in (
        f"/api/v1/datasets/{export.pk}/cancel",
        f"/api/v1/finetune-runs/{run.pk}/cancel",
        f"/api/v1/comparisons/{comparison.pk}/cancel",
    ):
        response = api_client.post(url)
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "cancelled"
        again = api_client.post(url)
        assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert api_client.post("/api/v1/datasets/999999/cancel").status_code == 404
    assert not (media_root / "datasets" / "ready4hire" / "v1").exists()  # a pending export's files go too


def test_cancel_from_the_admin(admin_client):
    running, done = FineTuneRunFactory(status="running"), FineTuneRunFactory(status="done")
    response = admin_client.post(
        "/admin/training/finetunerun/",
        {"action": "cancel_jobs", "_selected_action": [running.pk, done.pk]},
        follow=True,
    )
    assert response.status_code == 200
    statuses = dict(FineTuneRun.objects.values_list("pk", "status"))
    assert statuses == {running.pk: JobStatus.CANCELLED, done.pk: JobStatus.DONE}
    shown = [str(message) for message in response.context["messages"]]
    assert any("Cancelled" in message for message in shown) and any("is done" in message for message in shown)


def test_with_the_broker_down_a_queued_grade_is_accepted_and_sent_later(api_client):
    celery_app.conf.task_always_eager = False
    with celery_broker(CLOSED_PORT_BROKER):
        response = api_client.post(f"{URL}?wait=false", data=json.dumps(GOOD_REQUEST), content_type="application/json")
    assert response.status_code == 202
    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert (evaluation.status, evaluation.dispatched_at) == ("pending", None)

    celery_app.conf.task_always_eager = True  # the broker is back (here: eager, the worker test uses Redis)
    Evaluation.objects.filter(pk=evaluation.pk).update(created_at=_long_ago(60))
    jobs_sweep()
    evaluation.refresh_from_db()
    assert evaluation.status == "done"


def test_every_task_is_routed_to_a_declared_queue_without_deprecation_warnings():
    celery_app.loader.import_default_modules()
    queues = set(celery_app.conf.task_queues)
    assert queues == {"evaluation", "exports", "training"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, task in celery_app.tasks.items():
            if name.startswith("celery."):
                continue
            route = celery_app.amqp.router.route({}, name, task_type=task)
            assert route["queue"].name in queues, name
    assert celery_app.amqp.router.route({}, "evaluation.tasks.evaluation_run_task")["queue"].name == "evaluation"


def test_beat_runs_the_sweeper_every_minute_on_the_grading_queue():
    from django_celery_beat.models import PeriodicTask

    from ready4hire.tasks import jobs_sweep_task

    task = PeriodicTask.objects.get(task=jobs_sweep_task.name)
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "minutes")
    assert task.queue == jobs_sweep_task.queue_name == "evaluation"
    waiting = EvaluationFactory()
    Evaluation.objects.filter(pk=waiting.pk).update(created_at=_long_ago(60))
    assert jobs_sweep_task.delay().get() == {"evaluation": {"requeued": [], "failed": [], "dispatched": [waiting.pk]}}
