"""Model versions: references, promotion (one active per category, behind the gate), retirement, and the
scheduled-retraining check."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.contrib.admin.models import LogEntry
from django.db import IntegrityError, transaction
from django_celery_beat.models import PeriodicTask

from evaluation.services import api_key_create
from ready4hire.errors import InvalidInput, NotFound
from tests.llm_servers import FakeOllamaServer, FakeOpenAIServer
from training.finetune.deps import missing_train_packages
from training.models import DatasetExport, FineTuneRun, JobStatus, ModelVersion
from training.selectors import model_reference_resolve, model_version_get_by_reference
from training.services import (
    PromotionGateFailed,
    comparison_create_and_run,
    comparison_grading,
    finetune_due_check,
    model_version_promote,
    model_version_register,
    model_version_retire,
)
from training.services.serving import ServedModel
from training.tasks.finetune import finetune_if_due_task

from .comparison_helpers import ANSWERS, reviewed_example
from .factories import DatasetExportFactory, FineTuneRunFactory

pytestmark = pytest.mark.django_db

Status = ModelVersion.Status


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.LLM_BACKEND = "ollama"
    settings.LLM_BASE_URL = "http://127.0.0.1:11434"
    settings.LLM_RETRY_BACKOFF = 0
    settings.COMPARISON_BOOTSTRAP_RESAMPLES = 200


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="mara", is_staff=True)


def register(served_name: str = "", **fields) -> ModelVersion:
    return model_version_register(served_name=served_name, **fields)


# --- references -------------------------------------------------------------------------------------------


def test_references_resolve_to_a_server_and_model():
    plain = model_reference_resolve(ref="llama3.2:3b")
    assert (plain.backend, plain.base_url, plain.model, plain.version_id) == (
        "ollama",
        "http://127.0.0.1:11434",
        "llama3.2:3b",
        None,
    )
    served = register("ready4hire-v1")
    version = model_reference_resolve(ref="ready4hire:v1")
    assert (version.model, version.version_id) == ("ready4hire-v1", served.pk)
    elsewhere = model_reference_resolve(ref="ready4hire:v1@openai+http://10.0.0.5:8000")
    assert (elsewhere.backend, elsewhere.base_url, elsewhere.model) == (
        "openai",
        "http://10.0.0.5:8000",
        "ready4hire-v1",
    )


def test_latest_and_tiny_base_name_the_newest_of_their_kind():
    base = register(kind=ModelVersion.Kind.BASE, gguf_path="/runs/1/base.gguf")
    register("ready4hire-v2")
    newest = register("ready4hire-v3")
    assert model_version_get_by_reference(ref="latest") == newest
    assert model_version_get_by_reference(ref="tiny-base") == base
    assert model_version_get_by_reference(ref=str(base.pk)) == base
    gguf = model_reference_resolve(ref="tiny-base")
    assert (gguf.backend, gguf.gguf_path) == ("gguf", "/runs/1/base.gguf")


def test_unknown_references_are_clear_errors():
    with pytest.raises(NotFound, match="'latest' names the newest fine-tuned version"):
        model_reference_resolve(ref="latest")
    register("ready4hire-v1")
    with pytest.raises(NotFound, match="no version 'ready4hire:v9'"):
        model_reference_resolve(ref="ready4hire:v9")
    # A name we do not version is a server's own tag, not a missing version.
    assert model_reference_resolve(ref="qwen:v2").model == "qwen:v2"
    register()  # v2: neither served nor a GGUF
    with pytest.raises(InvalidInput, match="nothing to grade with"):
        model_reference_resolve(ref="ready4hire:v2")


def test_a_gguf_version_that_cannot_be_served_fails_the_comparison_with_the_reason(tmp_path, media_root):
    for answer, score in ANSWERS.items():
        reviewed_example(answer, score)
    register(kind=ModelVersion.Kind.BASE, gguf_path=str(tmp_path / "missing.gguf"))
    with FakeOllamaServer() as server, pytest.raises(InvalidInput, match=r"does not exist|\[serve\] extra"):
        comparison_create_and_run(
            models=[("base", "tiny-base"), ("ft", f"llama3.2:3b@ollama+{server.base_url}")], filters={}
        )


def test_a_gguf_version_is_served_for_the_comparison_and_stopped_after(media_root, monkeypatch):
    """llama.cpp's server stood in for by a loopback OpenAI-compatible server behind the same hook."""
    served: list[str] = []
    server = FakeOpenAIServer(models=("model",))

    @contextmanager
    def serve_gguf(gguf_path: str):
        served.append(gguf_path)
        with server:
            yield ServedModel(base_url=server.base_url, model="model", gguf_path=gguf_path, pid=0)

    monkeypatch.setattr(comparison_grading, "serve_gguf", serve_gguf)
    for answer, score in ANSWERS.items():
        reviewed_example(answer, score)
    register(gguf_path="/runs/2/model.gguf")
    with FakeOllamaServer() as base:
        run = comparison_create_and_run(models=[("base", f"llama3.2:3b@ollama+{base.base_url}"), ("ft", "latest")])
    assert served == ["/runs/2/model.gguf"]
    assert [request.body["model"] for request in server.chat_requests] == ["model"] * 4
    assert run.report["models"]["ft"]["schema_valid_rate"] == 1.0
    assert run.contenders[1]["backend"] == "gguf"
    with pytest.raises(RuntimeError, match="not started"):
        server.port  # noqa: B018  (the server was stopped when the model was done)


# --- promotion and retirement -------------------------------------------------------------------------------


def test_one_active_version_per_category_the_previous_one_is_retired(staff):
    first, second = register("r4h-v1"), register("r4h-v2")
    model_version_promote(version=first, user=staff, category="technical")
    promoted = model_version_promote(version=second, user=staff, category="technical", note="better QWK")

    first.refresh_from_db()
    assert (first.status, first.retired_at is not None) == (Status.RETIRED, True)
    assert (promoted.status, promoted.category, promoted.promoted_by, promoted.promotion_note) == (
        Status.ACTIVE,
        "technical",
        staff,
        "better QWK",
    )
    assert promoted.promoted_at is not None and promoted.promotion_forced is False
    assert ModelVersion.objects.filter(status=Status.ACTIVE).count() == 1
    assert LogEntry.objects.filter(
        object_id=str(second.pk), change_message__startswith="Promoted for technical"
    ).exists()

    soft = model_version_promote(version=register("r4h-v3"), category="soft_skills")
    assert ModelVersion.objects.filter(status=Status.ACTIVE).count() == 2 and soft.category == "soft_skills"


def test_the_database_allows_one_active_version_per_category():
    register("a", status=Status.ACTIVE, category="technical")
    with pytest.raises(IntegrityError), transaction.atomic():
        register("b", status=Status.ACTIVE, category="technical")


def test_promoting_the_active_version_again_changes_nothing(staff):
    version = model_version_promote(version=register("r4h-v1"), user=staff)
    again = model_version_promote(version=version, note="second click")
    assert again.promotion_note == "" and again.promoted_at == version.promoted_at


def test_a_version_without_a_served_name_cannot_be_promoted():
    with pytest.raises(InvalidInput, match="no served name"):
        model_version_promote(version=register(gguf_path="/runs/1/model.gguf"))


def test_an_api_key_promotion_records_the_key_in_the_note():
    key, _ = api_key_create(name="deployer")
    promoted = model_version_promote(version=register("r4h-v1"), user=key, note="nightly")
    assert promoted.promoted_by is None and promoted.promotion_note == "[API key deployer] nightly"


def test_retire_stops_a_version_and_is_idempotent(staff):
    version = model_version_promote(version=register("r4h-v1"), user=staff)
    retired = model_version_retire(version=version, user=staff, note="drifted")
    assert retired.status == Status.RETIRED and retired.retired_at is not None
    assert model_version_retire(version=retired).retired_at == retired.retired_at
    assert LogEntry.objects.filter(object_id=str(version.pk), change_message="Retired. Note: drifted").exists()


@pytest.fixture
def gated_versions(media_root):
    """v1 fails the gate (a quarter of its grades are broken), v2 passes it (its base only writes junk)."""
    for answer, score in ANSWERS.items():
        reviewed_example(answer, score)
    failing, passing = register("r4h-v1"), register("r4h-v2")
    with (
        FakeOllamaServer(default_mode="invalid_json") as broken,
        FakeOpenAIServer(models=("r4h-v2",)) as good,
        FakeOpenAIServer(models=("r4h-v1",)) as shaky,
    ):
        shaky.script("valid", "invalid_json")
        v1, v2 = f"ready4hire:v1@openai+{shaky.base_url}", f"ready4hire:v2@openai+{good.base_url}"
        comparison_create_and_run(models=[("base", v2), ("ft", v1)], filters={})
        comparison_create_and_run(models=[("base", f"llama3.2:3b@ollama+{broken.base_url}"), ("ft", v2)], filters={})
    return failing, passing


def test_promote_refuses_a_version_that_failed_the_gate_unless_forced(gated_versions, staff):
    failing, passing = gated_versions
    with pytest.raises(
        PromotionGateFailed, match=r"ready4hire:v1 failed the promotion gate of comparison #\d+: schema-valid"
    ):
        model_version_promote(version=failing, user=staff)
    failing.refresh_from_db()
    assert failing.status == Status.DRAFT

    forced = model_version_promote(version=failing, user=staff, force=True, note="hotfix, schema fixed upstream")
    assert (forced.status, forced.promotion_forced, forced.promoted_by) == (Status.ACTIVE, True, staff)
    assert forced.promotion_note == "hotfix, schema fixed upstream"
    assert LogEntry.objects.filter(object_id=str(failing.pk), change_message__contains="(forced)").exists()


def test_a_version_that_passed_its_latest_gate_is_promoted(gated_versions):
    _, passing = gated_versions  # its first comparison was as a base (not judged), its latest as a candidate
    promoted = model_version_promote(version=passing)
    assert promoted.status == Status.ACTIVE and promoted.promotion_forced is False


# --- retraining on schedule ---------------------------------------------------------------------------------


def export(version: int, examples: int, status: str = JobStatus.DONE) -> DatasetExport:
    return DatasetExportFactory(version=version, status=status, train_count=examples)


def test_retraining_is_due_when_the_newest_export_has_enough_new_examples():
    assert finetune_due_check(min_new_examples=500).reason == "no finished dataset export yet"
    first = export(1, 1000)
    assert "start the first one by hand" in finetune_due_check(min_new_examples=500).reason
    run = FineTuneRunFactory(dataset_export=first)
    assert "already trained on" in finetune_due_check(min_new_examples=500).reason

    export(2, 1400)
    not_yet = finetune_due_check(min_new_examples=500)
    assert not not_yet.due and "400 more examples" in not_yet.reason
    export(3, 1600, status=JobStatus.RUNNING)  # not finished: does not count
    newest = export(4, 1500)
    due = finetune_due_check(min_new_examples=500)
    assert (due.due, due.export, due.last_run) == (True, newest, run)

    FineTuneRunFactory(dataset_export=newest, status=JobStatus.RUNNING)
    assert finetune_due_check(min_new_examples=500).reason == "a fine-tune run is already pending or running"


def test_the_scheduled_retraining_is_installed_for_beat_on_the_training_queue():
    task = PeriodicTask.objects.get(task=finetune_if_due_task.name)
    assert task.enabled and task.interval is not None and task.queue == finetune_if_due_task.queue_name == "training"


def test_the_scheduled_task_does_nothing_while_the_schedule_is_off(settings):
    settings.FINETUNE_SCHEDULE_ENABLED = False
    first = export(1, 100)
    FineTuneRunFactory(dataset_export=first)
    export(2, 5000)
    assert finetune_if_due_task.delay().get() is None
    assert FineTuneRun.objects.count() == 1


def test_the_scheduled_task_starts_a_run_like_the_last_one_on_the_new_export(settings, media_root):
    if missing_train_packages():
        pytest.skip("starting a fine-tune run needs the [train] extra")
    settings.FINETUNE_SCHEDULE_ENABLED = True
    settings.FINETUNE_SCHEDULE_MIN_NEW_EXAMPLES = 50
    media_root.mkdir()
    (media_root / "train.jsonl").write_text("{}\n", encoding="utf-8")
    files = {"train": {"path": "train.jsonl", "size": 3, "sha256": ""}}
    first = DatasetExportFactory(version=1, train_count=100, files=files)
    last = FineTuneRunFactory(
        dataset_export=first,
        base_model="",
        init_tiny=True,
        method=FineTuneRun.Method.FULL,
        hyperparameters={"max_steps": 25, "seed": 7},
        status=JobStatus.DONE,
    )
    newest = DatasetExportFactory(version=2, train_count=160, files=files)

    run_id = finetune_if_due_task.delay().get()

    run = FineTuneRun.objects.get(pk=run_id)
    assert run.pk != last.pk and run.dataset_export == newest and run.status == JobStatus.PENDING
    assert (run.init_tiny, run.method, run.hyperparameters["max_steps"], run.hyperparameters["seed"]) == (
        True,
        "full",
        25,
        7,
    )
    assert finetune_if_due_task.delay().get() is None  # that run is pending: nothing more starts
