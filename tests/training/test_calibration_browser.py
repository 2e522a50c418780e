"""The calibration admin pages in a real headless browser at 1280×800: the list, the fit form, a fit's page with
its reliability plot and the statistics page with the agreement monitor fit the window (screenshots of the
first screenful in $R4H_SCREENSHOTS when set)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from training.services.calibration import calibration_fit

from .calibration_helpers import reviewed_example
from .test_admin_pages_browser import PASSWORD, SCROLL_WIDTHS, _log_in, _screens
from .test_examples_browser import browser  # noqa: F401  (the headless Chromium fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_calibration_pages_fit_the_window(live_server, browser, admin_user, settings, tmp_path):  # noqa: F811
    settings.CALIBRATION_MIN_EXAMPLES = 30
    for step in range(60):
        truth = round(step / 6, 1)
        reviewed_example("llama3.2:3b-instruct-q4_K_M", round(5 + truth / 2, 1), truth)
    calibration = calibration_fit(grader="llama3.2:3b-instruct-q4_K_M")
    admin_user.set_password(PASSWORD)
    admin_user.save(update_fields=["password"])
    _log_in(browser, live_server, admin_user.username)
    browser.set_window_size(1280, 800)
    pages = [
        reverse("admin:training_calibration_changelist"),
        reverse("admin:training_calibration_add"),
        reverse("admin:training_calibration_change", args=[calibration.pk]),
        reverse("admin:training_trainingexample_statistics"),  # with the agreement monitor's table
    ]
    too_wide = {}
    for url in pages:
        browser.get(f"{live_server.url}{url}")
        assert "Server Error" not in browser.title, url
        browser.save_screenshot(str(_screens(tmp_path) / f"calibration_{url.strip('/').replace('/', '_')}.png"))
        scroll, inner, clipped = browser.execute_script(SCROLL_WIDTHS)
        if scroll > inner or clipped:
            too_wide[url] = (scroll, inner, clipped)
    assert not too_wide, too_wide
