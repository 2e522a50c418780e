"""Fine-tune runs: what is checked before a run is stored, the idempotent claim, the command without the
`[train]` extra, the API and the admin. Training itself is in test_finetune_tiny.py and test_finetune_lora.py."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from ready4hire.errors import InvalidInput, NotFound
from training.finetune.deps import TRAIN_PACKAGES, missing_train_packages
from training.finetune.synthetic import synthetic_examples, synthetic_export_create
from training.models import DatasetExport, FineTuneRun, JobStatus
from training.selectors.exports import dataset_export_file_path
from training.services.finetune import finetune_run_create, finetune_run_execute

from ..conftest import service_missing
from .factories import FineTuneRunFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

API = "/api/v1/finetune-runs"


@pytest.fixture(scope="module")
def examples():
    return synthetic_examples(subsets=0)[:12]


@pytest.fixture
def export(examples) -> DatasetExport:
    return synthetic_export_create(examples=examples, val_count=2)


@pytest.fixture
def train_extra() -> None:
    """Creating a run checks that the extra is installed; CI installs it, so there a missing one fails."""
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")


@pytest.fixture
def without_train_extra(monkeypatch):
    """As on an installation without the extra: `import torch` fails, and so does finding it."""
    for name in TRAIN_PACKAGES:
        monkeypatch.setitem(sys.modules, name, None)


def test_the_command_without_the_extra_says_what_to_install(export, without_train_extra):
    with pytest.raises(CommandError) as error:
        call_command("finetune", "--dataset", str(export.pk), "--init-tiny")

    assert "pip install -e '.[train]'" in str(error.value)
    assert "torch" in str(error.value)
    assert not FineTuneRun.objects.exists()


def test_the_api_without_the_extra_answers_422_with_the_install_line(api_client, export, without_train_extra):
    response = api_client.post(
        API, data=json.dumps({"dataset_export_id": export.pk, "init_tiny": True}), content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json()["code"] == "train_extra_missing"
    assert "pip install -e '.[train]'" in response.json()["detail"]


def test_defaults_follow_the_starting_point(train_extra, export, tmp_path, settings):
    settings.ALLOWED_MODEL_DIRS = [str(tmp_path)]  # model files lie in the test's folder (issue 9 confines paths)
    tiny = finetune_run_create(dataset_export_id=export.pk, init_tiny=True)
    assert (tiny.method, tiny.status, tiny.base_model) == ("full", JobStatus.PENDING, "tiny (random-initialised)")
    assert tiny.hyperparameters["learning_rate"] == 3e-3 and tiny.hyperparameters["max_steps"] > 0
    assert tiny.hyperparameters["gradient_checkpointing"] is False

    checkpoint = tmp_path / "my-base"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    lora = finetune_run_create(
        dataset_export_id=export.pk,
        base_model=str(checkpoint),
        hyperparameters={"lora_r": 8, "target_modules": "q_proj, k_proj,v_proj", "epochs": 2},
    )
    assert lora.method == "lora" and lora.base_model == str(checkpoint.resolve())
    assert lora.hyperparameters["target_modules"] == ["q_proj", "k_proj", "v_proj"]
    assert (lora.hyperparameters["lora_r"], lora.hyperparameters["epochs"]) == (8, 2.0)
    assert lora.hyperparameters["learning_rate"] == 2e-4


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"dataset_export_id": 999}, "dataset_export_id", "does not exist"),
        ({"base_model": "/nowhere/at/all"}, "base_model", "must lie inside"),  # issue 9: outside every root
        ({"base_model": "someone/never-downloaded-model"}, "base_model", "is not in the cache"),
        ({}, "base_model", "Give a base model"),
        ({"init_tiny": True, "base_model": "/tmp"}, "base_model", "not both"),
        ({"init_tiny": True, "method": "ppo"}, "method", "method must be one of"),
        # issue 15: dpo is a method now, refused on an export without corrections (not a preference export)
        ({"init_tiny": True, "method": "dpo"}, "method", "--format preference"),
        ({"init_tiny": True, "method": "qlora"}, "method", "QLoRA needs a CUDA GPU"),
        ({"init_tiny": True, "hyperparameters": {"learning_rate": 5}}, "hyperparameters.learning_rate", "between"),
        ({"init_tiny": True, "hyperparameters": {"batch_size": 0}}, "hyperparameters.batch_size", "from 1"),
        ({"init_tiny": True, "hyperparameters": {"warmup": 3}}, "hyperparameters", "Unknown hyper-parameters"),
    ],
)
def test_bad_input_is_refused_before_anything_is_stored(train_extra, export, options, field, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a hub id is looked up in the local cache only: no network in tests
    with pytest.raises(InvalidInput) as error:
        finetune_run_create(**{"dataset_export_id": export.pk, **options})

    assert error.value.field == field
    assert message in str(error.value)
    assert not FineTuneRun.objects.exists()


def test_an_unfinished_export_or_a_missing_file_is_refused(train_extra, export):
    export.status = JobStatus.RUNNING
    export.save(update_fields=["status"])
    with pytest.raises(InvalidInput, match="running, not done"):
        finetune_run_create(dataset_export_id=export.pk, init_tiny=True)

    export.status = JobStatus.DONE
    export.save(update_fields=["status"])
    dataset_export_file_path(export=export, file="train").unlink()
    with pytest.raises(NotFound, match="missing on disk"):
        finetune_run_create(dataset_export_id=export.pk, init_tiny=True)


def test_a_finished_or_running_run_is_not_trained_again(train_extra, export):
    done = finetune_run_create(dataset_export_id=export.pk, init_tiny=True)
    FineTuneRun.objects.filter(pk=done.pk).update(status=JobStatus.DONE, outputs={"gguf": "kept.gguf"}, progress=100)
    running = finetune_run_create(dataset_export_id=export.pk, init_tiny=True)
    FineTuneRun.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING, started_at=timezone.now(), step=7)

    assert finetune_run_execute(run_id=done.pk).outputs == {"gguf": "kept.gguf"}
    again = finetune_run_execute(run_id=running.pk)
    assert (again.status, again.step) == (JobStatus.RUNNING, 7)


def test_a_run_abandoned_past_the_time_limit_is_taken_over(train_extra, export, settings, monkeypatch):
    """A worker that died mid-run leaves it 'running'; once the task's time limit has passed, no worker can
    still be at it, so the next delivery claims it (here it then fails on purpose: no extra)."""
    run = finetune_run_create(dataset_export_id=export.pk, init_tiny=True)
    long_ago = timezone.now() - timedelta(seconds=settings.FINETUNE_TASK_TIME_LIMIT + 60)
    FineTuneRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, started_at=long_ago)
    for name in TRAIN_PACKAGES:
        monkeypatch.setitem(sys.modules, name, None)

    failed = finetune_run_execute(run_id=run.pk)

    assert failed.status == JobStatus.FAILED and "pip install -e '.[train]'" in failed.error
    assert "failed" in failed.log and failed.started_at > long_ago


def test_the_progress_callback_writes_every_n_steps_and_every_logged_loss(train_extra):
    from training.finetune.trainer import ProgressCallback

    reports: list[tuple[int, float | None, int]] = []
    lines: list[str] = []
    callback = ProgressCallback(
        lambda p: reports.append((p.step, p.loss, len(p.eval_loss))), lines.append, every_steps=5, every_seconds=3600
    )

    class State:
        global_step, max_steps, epoch = 0, 12, 0.0

    state = State()
    callback.on_train_begin(None, state, None)
    for step in range(1, 13):
        state.global_step, state.epoch = step, step / 12
        callback.on_step_end(None, state, None)
        if step == 6:
            callback.on_log(None, state, None, logs={"loss": 2.5})
        if step == 12:
            callback.on_log(None, state, None, logs={"eval_loss": 1.75})
    callback.on_train_end(None, state, None)

    assert [step for step, _, _ in reports] == [0, 5, 6, 11, 12, 12]
    assert reports[-1] == (12, 2.5, 1)
    assert callback.progress.train_loss == [{"step": 6, "epoch": 0.5, "loss": 2.5}]
    assert lines == ["step 6/12: loss=2.5", "step 12/12: eval_loss=1.75"]


def test_the_api_queues_a_run_and_shows_its_progress(
    train_extra, api_client, export, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post(
            API,
            data=json.dumps({"dataset_export_id": export.pk, "init_tiny": True, "hyperparameters": {"max_steps": 5}}),
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    accepted = response.json()
    assert accepted["status"] == "pending" and accepted["requested_by"] == "API key tests"
    assert accepted["hyperparameters"]["max_steps"] == 5 and accepted["method"] == "full"
    assert len(callbacks) == 1  # the training task is queued when the transaction commits

    FineTuneRun.objects.filter(pk=accepted["id"]).update(
        status=JobStatus.RUNNING, step=3, max_steps=5, loss=1.25, progress=54, metrics={"eval_loss": []}
    )
    detail = api_client.get(f"{API}/{accepted['id']}").json()
    assert (detail["step"], detail["max_steps"], detail["loss"], detail["progress"]) == (3, 5, 1.25, 54)
    listing = api_client.get(API, {"status": "running"}).json()
    assert listing["count"] == 1 and listing["items"][0]["id"] == accepted["id"]
    assert api_client.get(f"{API}/999999").status_code == 404


def test_the_api_refuses_bad_input_with_the_field(train_extra, api_client, export):
    response = api_client.post(
        API,
        data=json.dumps({"dataset_export_id": export.pk, "base_model": "/no/such/dir"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["field"] == "base_model"


def test_the_admin_shows_progress_metrics_outputs_and_log_read_only(admin_client, export):
    run = FineTuneRunFactory(
        dataset_export=export,
        base_model="tiny (random-initialised)",
        init_tiny=True,
        method="full",
        status=JobStatus.DONE,
        progress=100,
        step=40,
        max_steps=40,
        loss=0.75,
        metrics={"eval_loss": [{"step": 40, "epoch": 1.0, "loss": 0.8}]},
        outputs={"gguf": "/models/run-1/model.gguf", "version": "ready4hire:v1"},
        log="step 40/40: loss=0.75",
    )

    listing = admin_client.get(reverse("admin:training_finetunerun_changelist")).content.decode()
    assert "step 40/40" in listing
    page = admin_client.get(reverse("admin:training_finetunerun_change", args=[run.pk])).content.decode()
    # The base model moved from the list to the page, and the metrics are a table (issue 13).
    assert "tiny (random-initialised)" in page
    assert "/models/run-1/model.gguf" in page and "ready4hire:v1" in page
    assert "validation loss" in page and "step 40/40: loss=0.75" in page
    assert 'name="status"' not in page  # nothing to edit
    assert admin_client.get(reverse("admin:training_finetunerun_add")).status_code == 403


def test_a_queued_run_trains_on_the_training_queue(
    train_extra, api_client, export, settings, django_capture_on_commit_callbacks
):
    """The API's run goes through the Celery task (eager here) on the `training` queue, and ends done."""
    from ready4hire.celery import app as celery_app
    from training.tasks.finetune import finetune_run_task

    # Routed as apply_async routes it: with the options the task's decorator gave it.
    route = celery_app.amqp.router.route(finetune_run_task._get_exec_options(), finetune_run_task.name)
    assert route["queue"].name == "training"
    settings.FINETUNE_TINY_VOCAB_SIZE = 1024  # two steps on a model this small: the wiring, not the learning

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            API,
            data=json.dumps(
                {
                    "dataset_export_id": export.pk,
                    "init_tiny": True,
                    "hyperparameters": {"max_steps": 2, "max_length": 4096},
                }
            ),
            content_type="application/json",
        )

    run = FineTuneRun.objects.get(pk=response.json()["id"])
    assert run.status == JobStatus.DONE, run.error
    assert run.celery_task_id and run.output_dir and run.outputs["version"] == "ready4hire:v1"
    detail = api_client.get(f"{API}/{run.pk}").json()
    assert detail["progress"] == 100 and detail["outputs"]["base_version"] == "ready4hire-tiny-base:v1"
