"""Admin pages that read well: a version's promotion said only when it happened, one "all" in the category
filter, jobs marked for refreshing while they run, fine-tune metrics and evaluation grades as tables."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.evaluation.factories import EvaluationFactory
from training.models import JobStatus, ModelVersion
from training.services.versions import model_version_register

from .factories import FineTuneRunFactory, grade

pytestmark = pytest.mark.django_db


def test_a_version_page_says_forced_only_for_a_forced_promotion(admin_client):
    never, plain, forced = (model_version_register(gguf_path=f"/m/{n}.gguf") for n in range(3))
    ModelVersion.objects.filter(pk=plain.pk).update(promoted_at=timezone.now())
    ModelVersion.objects.filter(pk=forced.pk).update(promoted_at=timezone.now(), promotion_forced=True)

    def page(version: ModelVersion) -> str:
        return admin_client.get(reverse("admin:training_modelversion_change", args=[version.pk])).content.decode()

    assert "Forced" not in page(never) and "Promotion forced" not in page(never)
    assert "Passed the promotion gate" not in page(never)
    assert "Forced" not in page(plain) and "Passed the promotion gate" in page(plain)
    assert "Forced</strong> although it failed the promotion gate" in page(forced)


def test_the_versions_category_filter_has_one_all(admin_client):
    model_version_register(gguf_path="/m/a.gguf")
    content = admin_client.get(reverse("admin:training_modelversion_changelist")).content.decode()
    assert "Every category (default grader)" in content
    assert "All categories</a>" not in content


def test_running_fine_tunes_refresh_and_metrics_are_a_table(admin_client):
    done = FineTuneRunFactory(metrics={"final_train_loss": 0.5, "steps": 3, "eval_loss": [{"step": 3, "loss": 0.7}]})
    running = FineTuneRunFactory(dataset_export=done.dataset_export, status=JobStatus.RUNNING, progress=20)
    listing = admin_client.get(reverse("admin:training_finetunerun_changelist")).content.decode()
    assert f'data-r4h-live="finetunerun-{running.pk}-state" data-r4h-running' in listing
    assert f'data-r4h-live="finetunerun-{done.pk}-state">Done' in listing
    page = admin_client.get(reverse("admin:training_finetunerun_change", args=[done.pk])).content.decode()
    assert "<th>Final training loss</th><td>0.5</td>" in page and "validation loss" in page
    assert "&quot;final_train_loss&quot;" not in page  # no JSON dump


def test_an_evaluation_page_shows_the_grade_as_a_table(admin_client):
    evaluation = EvaluationFactory(status="done", score=7.5, result=grade(7.5, strengths=["Names the cycle."]))
    page = admin_client.get(reverse("admin:evaluation_evaluation_change", args=[evaluation.pk])).content.decode()
    assert "<th>Score</th><td><strong>7.5</strong> / 10</td>" in page
    assert "<li>Names the cycle.</li>" in page and "completeness" in page
    assert "&quot;breakdown&quot;" not in page


def test_the_project_s_forms_use_human_labels(admin_client):
    content = admin_client.get(reverse("admin:training_datasetexport_add")).content.decode()
    assert "Soft skills" in content and "Spanish" in content and "OpenAI messages" in content
    start = admin_client.get(reverse("admin:training_comparisonrun_add")).content.decode()
    assert "Soft skills" in start and ">soft_skills<" not in start
