"""Calibration from every entry point — the command, the API, the admin and beat's task — and the agreement
monitor on the statistics page, in the API statistics and for the metrics endpoint."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from training.models import Calibration
from training.selectors.calibration import agreement_monitor, agreement_qwk_by_grader
from training.tasks.calibration import calibration_refit_if_due_task

from .calibration_helpers import reviewed_example

pytestmark = pytest.mark.django_db


@pytest.fixture
def lenient_reviews(settings) -> None:
    """40 reviewed grades of a judge that gives 5 + true / 2."""
    settings.CALIBRATION_MIN_EXAMPLES = 30
    for step in range(40):
        truth = round(step / 4, 1)
        reviewed_example("judge", round(5 + truth / 2, 1), truth)


def test_the_command_prints_the_before_after_table(lenient_reviews, capsys):
    call_command("calibrate", "--grader", "judge")
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split() == ["grader", "category", "version", "examples", "MAE", "raw", "MAE", "calibrated"] + [
        "QWK",
        "raw",
        "QWK",
        "calibrated",
    ]
    calibration = Calibration.objects.get()
    assert row.split()[:4] == ["judge", "all", "v1", "40"]
    assert f"{calibration.mae_before:.3f}" in row and f"{calibration.mae_after:.3f}" in row
    assert "is now applied to new grades" in out
    call_command("calibrate")  # every grader with enough reviews
    assert Calibration.objects.filter(grader="judge").count() == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--grader", "nobody"], "Unknown grader 'nobody'"),
        (["--grader", "judge", "--category", "soft_skills"], "judge has 0 reviewed examples in the Soft skills"),
        ([], "No grader has enough reviewed examples to calibrate (the most: 12); a calibration needs at least 30"),
    ],
)
def test_the_command_refuses_with_the_count_needed(settings, arguments, message):
    settings.CALIBRATION_MIN_EXAMPLES = 30
    for step in range(12):
        reviewed_example("judge", 7, step / 2)
    with pytest.raises(CommandError, match="at least 30|Unknown grader") as refused:
        call_command("calibrate", *arguments)
    assert message in str(refused.value)
    assert not Calibration.objects.exists()


def test_the_api_fits_and_lists(api_client, lenient_reviews):
    response = api_client.post(
        "/api/v1/calibrations", {"grader": "judge", "category": "technical"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["grader"], body["category"], body["version"], body["examples"], body["active"]) == (
        "judge",
        "technical",
        1,
        40,
        True,
    )
    assert body["mae_after"] < body["mae_before"] and body["msd_before"] > 0
    listed = api_client.get("/api/v1/calibrations", {"grader": "judge", "active": True}).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    ("payload", "field", "detail"),
    [
        ({"grader": "nobody"}, "grader", "Unknown grader"),
        ({"grader": "judge", "category": "soft_skills"}, "category", "needs at least 30"),
        ({"grader": "judge", "extra": 1}, "extra", "Invalid input"),
        ({"grader": "judge", "category": "everything"}, "category", "Invalid input"),
    ],
)
def test_the_api_refuses_bad_input_with_422(api_client, lenient_reviews, payload, field, detail):
    reviewed_example("judge", 6, 4, category="soft_skills")
    active = Calibration.objects.create(grader="judge", version=1, examples=30, knots=[[0, 0], [10, 10]], active=True)
    response = api_client.post("/api/v1/calibrations", payload, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input" and response.json()["field"] == field
    assert detail in response.json()["detail"]
    assert list(Calibration.objects.values_list("pk", "active")) == [(active.pk, True)]


def test_beat_task_refits(lenient_reviews):
    (calibration_id,) = calibration_refit_if_due_task.delay().get()
    assert Calibration.objects.get(pk=calibration_id).trigger == "schedule"
    assert calibration_refit_if_due_task.delay().get() == []  # no new reviews since


def test_the_admin_fits_shows_the_reliability_plot_and_stops_a_calibration(admin_client, lenient_reviews):
    form = admin_client.get(reverse("admin:training_calibration_add")).content.decode()
    assert "judge" in form and "40" in form
    refused = admin_client.post(reverse("admin:training_calibration_add"), {"grader": "nobody", "category": "all"})
    assert "Unknown grader" in refused.content.decode()
    response = admin_client.post(reverse("admin:training_calibration_add"), {"grader": "judge", "category": "all"})
    calibration = Calibration.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "admin:training_calibration_change", args=[calibration.pk]
    )
    page = admin_client.get(response.url).content.decode()
    assert '<figure id="r4h-reliability">' in page and "<svg" in page and "mean human score" in page
    assert page.count("<circle") == sum(len(points) for points in calibration.reliability.values())
    listing = admin_client.get(reverse("admin:training_calibration_changelist")).content.decode()
    assert "judge" in listing
    admin_client.post(
        reverse("admin:training_calibration_changelist"),
        {"action": "deactivate", "_selected_action": [calibration.pk]},
    )
    calibration.refresh_from_db()
    assert not calibration.active


def test_the_agreement_monitor_reads_the_last_reviews_per_grader_and_category(settings):
    for step in range(10):
        reviewed_example("judge", 8, 8 - step % 3)  # lenient: + (0 + 1 + 2 …) / 10
    reviewed_example("judge", 3, 3, category="soft_skills")
    reviewed_example("fair", 5, 5)
    rows = {(row["grader"], row["category"]): row for row in agreement_monitor(last=200)}
    assert rows[("judge", "technical")]["items"] == 10
    assert rows[("judge", "technical")]["mean_signed_difference"] == pytest.approx(0.9)
    assert rows[("judge", "technical")]["mae"] == pytest.approx(0.9)
    assert rows[("judge", "soft_skills")]["mean_signed_difference"] == 0
    latest = {(row["grader"], row["category"]): row["items"] for row in agreement_monitor(last=4)}
    assert latest[("judge", "technical")] == 4
    assert set(agreement_qwk_by_grader(last=200)) == {"judge", "fair"}


def test_the_monitor_is_on_the_statistics_page_and_in_the_api_stats(admin_client, api_client):
    for step in range(5):
        reviewed_example("judge", 9, 9 - step)
    page = admin_client.get(reverse("admin:training_trainingexample_statistics")).content.decode()
    assert 'id="r4h-agreement-monitor"' in page and "lenient" in page
    stats = api_client.get("/api/v1/training/stats").json()
    (row,) = stats["agreement_monitor"]
    assert (row["grader"], row["category"], row["items"], row["mean_signed_difference"]) == (
        "judge",
        "technical",
        5,
        2.0,
    )
