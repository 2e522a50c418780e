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

    assert demo_review() == 10
    approved = TrainingExample.objects.filter(review_status="approved")
    assert approved.count() == 10 and set(approved.values_list("review_note", flat=True)) == {DEMO_REVIEW_NOTE}

    export = demo_export()
    assert export.status == JobStatus.DONE and export.train_count + export.val_count == 10
    modelfile = demo_modelfile(output_dir=tmp_path)
    text = (tmp_path / "Modelfile").read_text()
    assert text.startswith(f"FROM {settings.LLM_MODEL}") and modelfile.dataset_export == export
    assert text.count("MESSAGE user") == modelfile.few_shot > 0


def test_the_fine_tune_step_trains_registers_and_compares_both_models(settings, media_root):
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")
    if importlib.util.find_spec("llama_cpp") is None:
        service_missing("needs llama-cpp-python: CMAKE_ARGS=-DLLAVA_BUILD=OFF pip install -e '.[serve]'")
    settings.FINETUNE_TINY_VOCAB_SIZE = 512
    settings.LLM_NUM_PREDICT = 48  # a few tokens are enough to see both servers answer
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
    export = demo_export()

    models = demo_finetune_and_compare(export=export, steps=10, limit=2)

    assert models.run.status == JobStatus.DONE, models.skipped
    kinds = set(models.run.versions.values_list("kind", flat=True))
    assert kinds == {ModelVersion.Kind.BASE, ModelVersion.Kind.FINETUNED}
    assert models.comparison is not None, models.skipped
    assert set(models.comparison.report["models"]) == {"base", "ft"}
    assert models.comparison.report["models"]["ft"]["n_items"] == 2
