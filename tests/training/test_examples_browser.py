"""One review end to end in a real headless browser, the way Django tests its own admin: a live server,
Debian's chromium and chromedriver, a reviewer who logs in, corrects a score and moves to the next example."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import service_missing
from training.models import TrainingExample

from .factories import TrainingExampleFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = os.environ.get("R4H_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("R4H_CHROMEDRIVER", "/usr/bin/chromedriver")
PASSWORD = "a-reviewer-password-42"


@pytest.fixture
def browser() -> Iterator:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        service_missing("needs selenium: pip install -e '.[dev]'")
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(binary, os.X_OK):
            service_missing(f"needs {binary}: apt-get install -y {package}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_reviewer_corrects_a_score_in_the_browser(live_server, browser, reviewer):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    reviewer.set_password(PASSWORD)
    reviewer.save(update_fields=["password"])
    next_in_queue = TrainingExampleFactory(question="Explain database normalisation.")
    example = TrainingExampleFactory(score=4.0, question="What is a database index?")
    machine_label = example.label

    browser.get(f"{live_server.url}/admin/training/trainingexample/")
    browser.find_element(By.NAME, "username").send_keys(reviewer.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

    # The queue, newest first: open the example.
    browser.find_element(By.LINK_TEXT, "What is a database index?").click()
    assert example.answer in browser.find_element(By.CSS_SELECTOR, ".r4h-answer").text

    score = browser.find_element(By.ID, "id_corrected_score")
    score.clear()
    score.send_keys("8.5")
    browser.find_element(By.ID, "id_note").send_keys("Covers the write cost; the grader missed it.")
    browser.find_element(By.NAME, "_approve_next").click()

    next_url = f"/admin/training/trainingexample/{next_in_queue.pk}/change/"
    WebDriverWait(browser, 10).until(expected_conditions.url_contains(next_url))
    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert message == f"Corrected example #{example.pk} (score 8.5) and approved it."

    stored = TrainingExample.objects.get(pk=example.pk)
    assert stored.score == 8.5 and stored.label["score"] == 8.5
    assert stored.original_score == 4.0 and stored.original_label == machine_label
    assert stored.source == "human" and stored.review_status == "approved"
    assert stored.reviewed_by == reviewer and stored.review_note == "Covers the write cost; the grader missed it."
