"""A comparison says which rows of its split it left out and why, in its report, the command and the admin."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.llm_servers import FakeOllamaServer
from training.models import ComparisonRun

from .comparison_helpers import ANSWERS, dataset_export, reviewed_example

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(comparison_settings):
    comparison_settings.COMPARISON_BOOTSTRAP_RESAMPLES = 50


def test_pending_examples_of_the_split_are_listed_with_their_reason(admin_client):
    approved = [reviewed_example(answer, 5.0) for answer in ANSWERS]
    pending = reviewed_example("alpha beta", 7.0, review_status="pending")
    export = dataset_export(val=[*(example.pk for example in approved), pending.pk])
    out = StringIO()
    with FakeOllamaServer() as server:
        ref = f"llama3.2:3b@ollama+{server.base_url}"
        call_command(
            "compare_models", "--dataset", str(export.pk), "--models", f"base={ref}", f"ft={ref}",
            "--limit", "3", "--no-progress", stdout=out, stderr=StringIO(),
        )  # fmt: skip

    run = ComparisonRun.objects.get()
    assert run.report["left_out"] == [
        {"reason": "no human score: pending, not approved", "count": 1, "example_ids": [pending.pk]},
        {"reason": "beyond the limit of 3 examples", "count": 1, "example_ids": [approved[3].pk]},
    ]
    output = out.getvalue()
    assert "Left out 2 examples (invalid grades are not left out: they count):" in output
    assert f"  1 no human score: pending, not approved (example ids {pending.pk})" in output
    page = admin_client.get(reverse("admin:training_comparisonrun_change", args=[run.pk])).content.decode()
    assert "Left out of the figures" in page and "no human score: pending, not approved" in page
