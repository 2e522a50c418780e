"""Every admin page of the project in a real headless browser, at 1440×900 and 1280×800: each changelist, change
page, form and custom page with data in every model, a screenshot of each, and a failure when a page is wider
than the window (its right-hand columns cut off). A reviewer's index lists no Periodic tasks.

The TrainingExample pages (list, review screen, statistics) have their own browser test. Screenshots go to
$R4H_SCREENSHOTS when it is set (a folder to look at), otherwise to the test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from evaluation.models import ApiKey
from tests.evaluation.factories import EvaluationFactory, QuestionFactory
from tests.llm_servers import FakeOllamaServer
from training.models import DatasetExport, JobStatus, Modelfile, ModelVersion
from training.services import comparison_create_and_run, dataset_export_submit, modelfile_build
from training.services.versions import model_version_register

from .factories import FineTuneRunFactory, TrainingExampleFactory, grade
from .test_examples_browser import browser  # noqa: F401  (the headless Chromium fixture)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "an-admin-password-42"
SIZES = [(1440, 900), (1280, 800)]
APPS = ("evaluation", "training")
SKIPPED_MODELS = {"trainingexample"}  # their own browser test and owner


# The page's width against the window's, and the boxes inside it that scroll sideways: the admin puts a wide
# list in one (`.results`), which keeps the page narrow but hides the right-hand columns all the same.
SCROLL_WIDTHS = """
const clipped = [...document.querySelectorAll("#content *")].filter((element) =>
  ["auto", "scroll"].includes(getComputedStyle(element).overflowX) && element.scrollWidth > element.clientWidth + 1
  && !element.matches("textarea, select"));
return [document.documentElement.scrollWidth, window.innerWidth,
        clipped.map((element) => element.tagName.toLowerCase() + (element.className ? "." + element.className : ""))];
"""


def _populate(comparison_settings) -> dict[str, object]:
    """A row in every model of the project, some of them mid-job, as a working installation has."""
    question = QuestionFactory()
    EvaluationFactory(
        question=question,
        status="done",
        source="llm",
        model="llama3.2:3b",
        score=7.5,
        result=grade(7.5, strengths=["Names the lock cycle."], missing_concepts=["cycle"]),
        latency_ms=850,
    )
    ApiKey.objects.create(name="front-end", key_prefix="r4h_abcd", key_hash="0" * 64)
    TrainingExampleFactory.create_batch(12, review_status="approved", source="human")
    TrainingExampleFactory(review_status="approved", category="soft_skills", source="human")
    TrainingExampleFactory.create_batch(3, review_status="approved", source="heuristic")
    export = dataset_export_submit(wait=True)
    DatasetExport.objects.create(name="nightly-export", version=1, status=JobStatus.RUNNING, progress=40)
    modelfile = modelfile_build(
        name="ready4hire:v1", base="llama3.2:3b", language="en", dataset_export_id=export.pk, few_shot=2
    )
    Modelfile.objects.filter(pk=modelfile.pk).update(validation={})
    points = [{"step": step, "epoch": step / 40, "loss": 2.5 - step / 30} for step in range(1, 41)]
    FineTuneRunFactory(
        dataset_export=export,
        method="lora",
        base_model="/srv/models/huggingface/Qwen2.5-0.5B-Instruct-with-a-rather-long-directory-name",
        progress=100,
        step=40,
        max_steps=40,
        loss=1.2,
        hyperparameters={
            "learning_rate": 0.0002,
            "lora_r": 16,
            "max_steps": 40,
            "target_modules": ["q_proj", "v_proj"],
        },
        metrics={
            "train_loss": points,
            "eval_loss": points[::10],
            "final_train_loss": 1.2,
            "steps": 40,
            "epochs": 1.0,
            "train_seconds": 61.3,
            "examples": {"train": 12, "val": 3, "too_long": 0},
            "parameters": {"total": 494032768, "trainable": 1081344},
            "device": "cpu",
        },
        outputs={"gguf": "/srv/media/finetune/run-1/model-f16.gguf", "merged": "/srv/media/finetune/run-1/merged"},
        log="step 40: loss 1.2\nsaved\n",
    )
    FineTuneRunFactory(dataset_export=export, status=JobStatus.RUNNING, progress=35, step=14, max_steps=40)
    for number in (1, 2):
        model_version_register(dataset_export=export, gguf_path=f"/srv/media/finetune/run-{number}/model.gguf")
    ModelVersion.objects.filter(version=1).update(
        status=ModelVersion.Status.ACTIVE, promoted_at=timezone.now(), promotion_note="first good one"
    )
    with FakeOllamaServer() as server:
        ref = f"llama3.2:3b@ollama+{server.base_url}"
        comparison_create_and_run(models=[("base", ref), ("ft", ref)], dataset_export_id=export.pk)
    return {"export": export}


def _pages() -> list[str]:
    """Every changelist, change page and add form of the project's models, and their custom pages."""
    urls = []
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        if meta.app_label not in APPS or meta.model_name in SKIPPED_MODELS:
            continue
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        for obj in model_admin.get_queryset(None).order_by("pk")[:2]:
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
        if meta.model_name in ("datasetexport", "modelfile", "comparisonrun", "question"):
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    urls += [reverse("admin:index"), reverse("admin:app_list", args=["training"])]
    urls.append(reverse("admin:training_modelfile_ollama_models"))
    return urls


def _log_in(driver, live_server, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{live_server.url}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def _screens(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("R4H_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_admin_page_fits_the_window(live_server, browser, admin_user, comparison_settings, tmp_path):  # noqa: F811
    admin_user.set_password(PASSWORD)
    admin_user.save(update_fields=["password"])
    _populate(comparison_settings)
    screens = _screens(tmp_path)
    _log_in(browser, live_server, admin_user.username)
    too_wide = []
    for width, height in SIZES:
        browser.set_window_size(width, height)
        for url in _pages():
            browser.get(f"{live_server.url}{url}")
            assert "Server Error" not in browser.title, url
            scroll, inner, clipped = browser.execute_script(SCROLL_WIDTHS)
            if scroll > inner:
                too_wide.append(f"{url} at {width}: {scroll} px > {inner} px")
            too_wide += [f"{url} at {width}: {what} scrolls sideways" for what in clipped]
            # The whole page in the screenshot: the window grows to its height, then shrinks back.
            page_height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(width, min(max(page_height, height), 5000))
            browser.save_screenshot(str(screens / f"{width}_{url.strip('/').replace('/', '_')}.png"))
            browser.set_window_size(width, height)
    assert not too_wide, "\n".join(too_wide)


def test_a_reviewer_sees_no_periodic_tasks(live_server, browser, reviewer, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    reviewer.set_password(PASSWORD)
    reviewer.save(update_fields=["password"])
    _log_in(browser, live_server, reviewer.username)
    browser.set_window_size(*SIZES[0])
    browser.get(f"{live_server.url}/admin/")
    browser.save_screenshot(str(_screens(tmp_path) / "reviewer_admin.png"))
    apps = browser.find_element(By.ID, "content-main").text
    assert "Training examples" in apps
    assert "Periodic tasks" not in apps and "PERIODIC TASKS" not in apps
    browser.get(f"{live_server.url}/admin/django_celery_beat/periodictask/")
    assert "403" in browser.page_source or "permission" in browser.page_source.lower()
