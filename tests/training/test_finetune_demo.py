"""The demo's fine-tuning step (`finetune_tiny_demo`): a tiny run on an export, then base and fine-tuned
served by llama.cpp in turn, each grading the export's held-out rows. Kept short: the plumbing, not quality
(test_finetune_tiny.py measures that)."""

from __future__ import annotations

import importlib.util

import pytest

from training.finetune.deps import missing_train_packages
from training.finetune.synthetic import synthetic_examples, synthetic_export_create
from training.models import JobStatus, ModelVersion
from training.services.finetune import finetune_tiny_demo

from ..conftest import service_missing

pytestmark = pytest.mark.django_db


def test_the_demo_step_trains_registers_and_serves_both_models(settings, tmp_path):
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")
    if importlib.util.find_spec("llama_cpp") is None:
        service_missing("needs llama-cpp-python: CMAKE_ARGS=-DLLAVA_BUILD=OFF pip install -e '.[serve]'")
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FINETUNE_TINY_VOCAB_SIZE = 512
    settings.LLM_NUM_PREDICT = 48  # a few tokens are enough to see both servers answer
    export = synthetic_export_create(examples=synthetic_examples(subsets=0)[:40], val_count=3)

    demo = finetune_tiny_demo(dataset_export_id=export.pk, steps=10, held_out=2)

    assert demo.run.status == JobStatus.DONE and demo.serving_skipped == ""
    assert demo.base.kind == ModelVersion.Kind.BASE and demo.finetuned.kind == ModelVersion.Kind.FINETUNED
    assert demo.graded["base"]["version"] == demo.base.reference
    assert demo.graded["finetuned"]["version"] == demo.finetuned.reference
    assert {label: result["graded"] for label, result in demo.graded.items()} == {"base": 2, "finetuned": 2}
    assert all(0.0 <= result["valid_json_rate"] <= 1.0 for result in demo.graded.values())
