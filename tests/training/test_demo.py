"""The demo's training steps: review labelled as demo, export, Modelfile, tiny fine-tune and comparison.
Kept short: the plumbing, not quality (test_finetune_tiny.py measures that)."""

from __future__ import annotations

import importlib.util

import pytest

from training.demo.steps import DEMO_REVIEW_NOTE, demo_export, demo_finetune_and_compare, demo_modelfile, demo_review
from training.finetune.deps import missing_train_packages
from training.finetune.synthetic import synthetic_examples
from training.models import JobStatus, ModelVersion, TrainingExample

from ..conftest import service_missing
from .factories import TrainingExampleFactory

pytestmark = pytest.mark.django_db


def test_review_export_and_modelfile_steps(settings, tmp_path, media_root):
    TrainingExampleFactory.create_batch(6, category="technical", source="heuristic")
    TrainingExampleFactory.create_batch(4, category="soft_skills", source="heuristic", language="es")

    assert demo_review(keep_pending=0) == 10
    approved = TrainingExample.objects.filter(review_status="approved")
    assert approved.count() == 10 and set(approved.values_list("review_note", flat=True)) == {DEMO_REVIEW_NOTE}

    export = demo_export()
    assert export.status == JobStatus.DONE and export.train_count + export.val_count == 10
    modelfile = demo_modelfile(output_dir=tmp_path)
    text = (tmp_path / "Modelfile").read_text()
    assert text.startswith(f"FROM {settings.LLM_MODEL}") and modelfile.dataset_export == export
    assert text.count("MESSAGE user") == modelfile.few_shot > 0


def test_the_demo_leaves_the_examples_the_graders_disagree_on_most_for_people(django_user_model):
    TrainingExampleFactory.create_batch(6)
    disputed = TrainingExampleFactory.create_batch(3, opinions={"llm": 2.0, "heuristic-v2": 8.0}, disagreement=6.0)

    assert demo_review(keep_pending=3) == 6
    pending = TrainingExample.objects.filter(review_status="pending")
    assert set(pending) == set(disputed)
    approved = TrainingExample.objects.filter(review_status="approved")
    assert all(example.decided_automatically for example in approved)
    # Never more than half is left pending: the export still has examples to train on.
    assert demo_review(keep_pending=100) == 2


def _approved_synthetic_export():
    for request, label in synthetic_examples(subsets=0)[:40]:
        TrainingExampleFactory(
            question=request.question,
            answer=request.answer,
            category=request.category,
            language=request.language,
            label=label,
            score=label["score"],
            source="heuristic",
            review_status="approved",
        )
    return demo_export()


@pytest.mark.parametrize("serve_gguf", [False, True], ids=["in-process", "llama.cpp"])
def test_the_fine_tune_step_trains_registers_and_compares_both_models(settings, media_root, serve_gguf):
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")
    if serve_gguf and importlib.util.find_spec("llama_cpp") is None:
        service_missing("needs llama-cpp-python: CMAKE_ARGS=-DLLAVA_BUILD=OFF pip install -e '.[serve]'")
    settings.FINETUNE_TINY_VOCAB_SIZE = 512
    settings.LLM_NUM_PREDICT = 48  # a few tokens are enough to see both models answer
    export = _approved_synthetic_export()
    steps_seen: list[tuple[int, int]] = []
    grades_seen: list[tuple[int, int]] = []

    models = demo_finetune_and_compare(
        export=export,
        steps=10,
        limit=2,
        serve_gguf=serve_gguf,
        on_train=lambda progress: steps_seen.append((progress.step, progress.max_steps)),
        on_grade=lambda done, total: grades_seen.append((done, total)),
    )

    assert models.run.status == JobStatus.DONE, models.skipped
    kinds = set(models.run.versions.values_list("kind", flat=True))
    assert kinds == {ModelVersion.Kind.BASE, ModelVersion.Kind.FINETUNED}
    assert models.comparison is not None, models.skipped
    assert set(models.comparison.report["models"]) == {"base", "ft"}
    assert models.comparison.report["models"]["ft"]["n_items"] == 2
    backends = {contender["backend"] for contender in models.comparison.contenders}
    assert backends == ({"gguf"} if serve_gguf else {"local"})
    assert ("llama.cpp" in models.served_by) is serve_gguf
    # What the progress bars are fed: every training step up to the last, every grade of both models.
    assert steps_seen[-1] == (10, 10) and grades_seen[-1] == (4, 4)


def test_after_the_practice_set_at_least_100_disputed_examples_wait_for_a_person(settings):
    from django.core.management import call_command

    from training.demo.steps import demo_collection, demo_reviewer, practice_set_grade

    settings.LLM_BACKEND = "none"
    call_command("load_questions", verbosity=0)
    with demo_collection(enabled=True):
        practice_set_grade(subsets=0)
    approved = demo_review()

    pending = TrainingExample.objects.filter(review_status="pending")
    assert pending.count() >= 100 and not pending.filter(disagreement=0).exists()
    assert all(len(opinions) == 2 for opinions in pending.values_list("opinions", flat=True))
    assert TrainingExample.objects.filter(review_status="approved", decided_automatically=True).count() == approved
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        assert demo_reviewer() is None  # a shared database gets its people from create_reviewer
        return
    username, password = demo_reviewer()
    assert demo_reviewer()[0] == username  # a second run gives the same account a new password
