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


# --- the review screen: keyboard only, one screen ---------------------------------------------------------

SCREEN = (1440, 900)


def _screen(browser, width: int, height: int) -> None:
    """An exact 1440×900 viewport (a window size would include the browser's own frame)."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def _screenshot(browser, tmp_path, name: str) -> None:
    """Keep what the reviewer saw: in R4H_SCREENSHOTS when set (to look at the design), else in tmp_path."""
    folder = os.environ.get("R4H_SCREENSHOTS") or str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    browser.save_screenshot(os.path.join(folder, f"{name}.png"))


def _login(browser, live_server, reviewer, path: str) -> None:
    from selenium.webdriver.common.by import By

    reviewer.set_password(PASSWORD)
    reviewer.save(update_fields=["password"])
    browser.get(f"{live_server.url}{path}")
    browser.find_element(By.NAME, "username").send_keys(reviewer.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def _shown(browser) -> int:
    from selenium.webdriver.common.by import By

    return int(browser.find_element(By.CSS_SELECTOR, ".r4h-id").text.lstrip("#"))


def _gone(element) -> bool:
    """Whether the page that held `element` has been replaced (Chromium says so in one of two ways)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "belong to the document" in str(exc):
            return True
        raise
    return False


def _press(browser, keys: str) -> None:
    """Type at whatever has the focus, as a person at the keyboard would (no clicks)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # The previous key may have loaded a page that is still settling: wait for it, then type at its focus.
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.readyState") == "complete")
    page = browser.find_element("tag name", "html")
    try:
        browser.switch_to.active_element.send_keys(keys)
    except WebDriverException:
        # The key went through and its page replaced this one while Chromium was still answering: never type
        # it again (that would decide a second example).
        if not _gone(page):
            raise
    WebDriverWait(browser, 10).until(lambda _: _gone(page))


def _fits(browser) -> bool:
    return browser.execute_script("return document.documentElement.scrollHeight <= window.innerHeight")


def test_a_reviewer_works_through_twenty_examples_with_the_keyboard(live_server, browser, reviewer, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from training.models import Review

    from .review_examples import typical_example

    # English and Spanish examples interleaved: a queue that forgot the language filter would show Spanish next.
    english = []
    for n in range(24):
        english.append(typical_example(language="en", n=n + 1, score=4.0 + (n % 5)))
        if n % 3 == 0:
            typical_example(language="es", n=n + 1)
    spanish_ids = set(TrainingExample.objects.filter(language="es").values_list("pk", flat=True))

    _screen(browser, *SCREEN)
    _login(browser, live_server, reviewer, "/admin/training/trainingexample/review/")
    # The filter is chosen on the review screen itself.
    Select(browser.find_element(By.CSS_SELECTOR, "#r4h-queue-form select[name=language]")).select_by_value("en")
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("language=en"))
    assert browser.switch_to.active_element.get_attribute("id") == "id_score"  # focus where typing goes
    _screenshot(browser, tmp_path, "review-1440x900")
    assert _fits(browser), "the review screen scrolls at 1440×900"
    progress = browser.find_element(By.CSS_SELECTOR, ".r4h-progress").text
    assert "0 reviewed of 24 in this queue" in progress and "0 by you today" in progress

    browser.switch_to.active_element.send_keys("?")
    overlay = browser.find_element(By.ID, "r4h-keys")
    assert overlay.is_displayed() and "Undo your last review" in overlay.text
    _screenshot(browser, tmp_path, "review-keys-overlay")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not overlay.is_displayed()

    decided: dict[int, tuple[str, float | None]] = {}
    # Skip one, come back to it: next and previous walk the same (filtered) queue.
    first = _shown(browser)
    _press(browser, "n")
    assert _shown(browser) != first
    _press(browser, "p")
    assert _shown(browser) == first

    round_number = 0
    while len(decided) < 20:
        shown = _shown(browser)
        assert shown not in spanish_ids and shown not in decided
        kind = round_number % 4
        if kind == 0:
            _press(browser, "a")
            decided[shown] = ("approve", None)
        elif kind == 1:
            _press(browser, "r")
            decided[shown] = ("reject", None)
        elif kind == 2:
            _press(browser, "9" + Keys.ENTER)  # the score field has the focus, its text selected
            decided[shown] = ("correct", 9.0)
        else:
            browser.switch_to.active_element.send_keys("t")
            browser.switch_to.active_element.send_keys("Checked against the rubric.")
            _press(browser, Keys.CONTROL + Keys.ENTER)
            decided[shown] = ("approve", None)
        round_number += 1
        if round_number == 6:
            # Undo the last decision: the same example comes back, pending again, and is decided anew.
            last = shown
            _press(browser, "u")
            assert _shown(browser) == last
            assert TrainingExample.objects.get(pk=last).review_status == "pending"
            del decided[last]

    assert "20 reviewed of 24 in this queue" in browser.find_element(By.CSS_SELECTOR, ".r4h-progress").text
    reviews = Review.objects.filter(reviewer=reviewer, current=True).exclude(action="reopen")
    assert sorted(reviews.values_list("example_id", flat=True)) == sorted(decided)
    assert not Review.objects.filter(example_id__in=spanish_ids).exists()
    for example_id, (action, score) in decided.items():
        example = TrainingExample.objects.get(pk=example_id)
        expected_status = "rejected" if action == "reject" else "approved"
        assert example.review_status == expected_status, (example_id, action)
        if score is not None:
            assert example.score == score and example.source == "human"
    assert TrainingExample.objects.filter(pk__in=[e.pk for e in english], review_status="pending").count() == 4


def test_the_change_page_has_its_correction_form_above_the_fold(live_server, browser, reviewer, tmp_path):
    from selenium.webdriver.common.by import By

    from .review_examples import typical_example

    example = typical_example()
    _screen(browser, *SCREEN)
    _login(browser, live_server, reviewer, f"/admin/training/trainingexample/{example.pk}/change/")
    score = browser.find_element(By.ID, "id_corrected_score")
    score.clear()
    score.send_keys("11")
    browser.find_element(By.NAME, "_correct").click()
    _screenshot(browser, tmp_path, "change-page-1440x900")
    # The error sits next to the score, and the score, its error and the buttons are all above the fold.
    error = browser.find_element(By.CSS_SELECTOR, ".field-corrected_score .errorlist")
    assert "less than or equal to 10" in error.text
    for element in (
        error,
        browser.find_element(By.ID, "id_corrected_score"),
        browser.find_element(By.NAME, "_correct"),
    ):
        assert browser.execute_script("return arguments[0].getBoundingClientRect().bottom", element) <= SCREEN[1]
    assert browser.find_element(By.NAME, "_correct").get_attribute("value") == "Correct score and approve"
