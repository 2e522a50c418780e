"""The comparison's interfaces: the API, the compare_models command and the admin pages."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.celery_worker import job_wait
from tests.llm_servers import FakeOllamaServer, FakeOpenAIServer
from training.models import ComparisonRun, JobStatus
from training.services import comparison_create_and_run

from .comparison_helpers import ANSWERS, dataset_export, reviewed_example

pytestmark = pytest.mark.django_db

HUMAN = [8.0, 5.0, 2.0, 6.0]


@pytest.fixture(autouse=True)
def _settings(comparison_settings):
    comparison_settings.COMPARISON_BOOTSTRAP_RESAMPLES = 100


@pytest.fixture
def examples():
    return [reviewed_example(answer, human) for answer, human in zip(ANSWERS, HUMAN, strict=True)]


@pytest.fixture
def servers():
    with FakeOllamaServer() as base, FakeOpenAIServer() as candidate:
        candidate.script("valid", "invalid_json")
        yield base, candidate


def refs(base, candidate) -> tuple[str, str]:
    return f"llama3.2:3b@ollama+{base.base_url}", f"llama3.2:3b@openai+{candidate.base_url}"


# --- the command ----------------------------------------------------------------------------------------------


def test_compare_models_prints_the_table_and_writes_the_json_report(examples, servers, tmp_path):
    base, candidate = servers
    export = dataset_export(val=[example.pk for example in examples])
    base_ref, ft_ref = refs(base, candidate)
    out, path = StringIO(), tmp_path / "reports" / "ab.json"
    call_command(
        "compare_models",
        "--dataset", str(export.pk), "--split", "val", "--models", f"base={base_ref}", f"ft={ft_ref}",
        "--repeats", "2", "--json", str(path), "--no-progress",
        stdout=out, stderr=StringIO(),
    )  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"Comparison #{ComparisonRun.objects.get().pk}: 4 examples × 2 repeat(s)")
    assert lines[1].split() == [
        "model",
        "valid",
        "JSON",
        "schema-valid",
        "QWK",
        "MAE",
        "Spearman",
        "exact",
        "±1",
        "mean",
        "ms",
        "p50",
        "ms",
        "prompt",
        "tok",
        "prompt",
    ]
    base_row, ft_row = lines[2].split(), lines[3].split()
    assert base_row[:3] == ["base", "100.0%", "100.0%"] and base_row[4] == "0.750"  # MAE
    assert ft_row[:3] == ["ft", "87.5%", "87.5%"]  # one broken grade of eight
    assert lines[4].startswith("ft vs base: QWK ")
    assert lines[5].startswith("  gate FAILED: schema-valid rate 0.875 < 0.990")

    report = json.loads(path.read_text(encoding="utf-8"))
    assert set(report) == {"models", "improvement", "gate", "left_out"}  # left_out: issue 13
    assert report["left_out"] == []
    assert set(report["models"]["base"]) >= {
        "valid_json_rate", "schema_valid_rate", "qwk", "spearman", "pearson", "mae", "msd", "exact", "adjacent",
        "consistency_sd", "icc", "concept_recall", "latency_p50_ms", "latency_p95_ms", "ci",
    }  # fmt: skip
    assert report["models"]["base"]["icc"] == 1.0 and report["gate"]["ft"]["passed"] is False


def test_compare_models_reports_bad_input_as_a_command_error(examples):
    with pytest.raises(CommandError, match="expected LABEL=REF"):
        call_command("compare_models", "--models", "base", "ft=x", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="no LLM server is configured"):
        call_command("compare_models", "--models", "a=x", "b=y", "--no-progress", stdout=StringIO(), stderr=StringIO())


# --- the API ----------------------------------------------------------------------------------------------------


def test_post_queues_a_comparison_and_get_returns_its_report(
    api_client, examples, servers, django_capture_on_commit_callbacks
):
    base, candidate = servers
    base_ref, ft_ref = refs(base, candidate)
    body = {"models": [{"label": "base", "ref": base_ref}, {"label": "ft", "ref": ft_ref}], "filters": {}, "limit": 3}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/comparisons", body, content_type="application/json")
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "pending" and created["n_examples"] == 3
    assert [model["label"] for model in created["models"]] == ["base", "ft"]

    detail = api_client.get(f"/api/v1/comparisons/{created['id']}").json()
    assert detail["status"] == "done" and detail["progress"] == 100
    assert set(detail["report"]) == {"models", "improvement", "gate", "left_out"}  # left_out: issue 13
    assert detail["report"]["models"]["ft"]["valid_json_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert detail["gate"]["ft"]["passed"] is False and "example_ids" not in detail["filters"]

    listing = api_client.get("/api/v1/comparisons?status=done").json()
    assert listing["count"] == 1 and listing["items"][0]["id"] == created["id"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"models": [{"label": "base", "ref": "x"}]}, 422, "models"),
        ({"models": [{"label": "a", "ref": "x"}, {"label": "b", "ref": "y"}], "repeats": 0}, 422, "repeats"),
        (
            {"models": [{"label": "a", "ref": "x"}, {"label": "b", "ref": "y"}], "dataset_id": 1, "filters": {}},
            422,
            "body",
        ),
        ({"models": [{"label": "a", "ref": "x"}, {"label": "b", "ref": "y"}]}, 422, "ref"),
        ({"models": [{"label": "a", "ref": "latest"}, {"label": "b", "ref": "x"}]}, 404, "ref"),
    ],
)
def test_post_refuses_bad_requests_with_json_errors(api_client, examples, body, status, field):
    response = api_client.post("/api/v1/comparisons", body, content_type="application/json")
    assert response.status_code == status
    payload = response.json()
    assert payload["code"] in {"invalid_input", "not_found"}
    assert field in json.dumps(payload)
    assert not ComparisonRun.objects.exists()


def test_get_of_an_unknown_comparison_is_404(api_client):
    response = api_client.get("/api/v1/comparisons/999")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_the_comparisons_api_needs_a_key(client):
    assert client.get("/api/v1/comparisons").status_code == 401


# --- the admin --------------------------------------------------------------------------------------------------


def test_admin_shows_the_table_the_gate_and_the_plots(admin_client, examples, servers):
    base, candidate = servers
    run = comparison_create_and_run(models=[("base", refs(base, candidate)[0]), ("ft", refs(base, candidate)[1])])
    listing = admin_client.get(reverse("admin:training_comparisonrun_changelist"))
    assert (
        listing.status_code == 200
        and "base vs ft" in listing.content.decode()
        and "ft: failed" in listing.content.decode()
    )

    page = admin_client.get(reverse("admin:training_comparisonrun_change", args=[run.pk])).content.decode()
    assert "Agreement with the human scores" in page and "schema-valid rate 0.750 &lt; 0.990" in page
    plot = reverse("admin:training_comparisonrun_plot", args=[run.pk, "scatter"]) + "?model=ft"
    assert plot.replace("?", "?") in page.replace("&amp;", "&")

    scatter = admin_client.get(plot)
    assert scatter["Content-Type"] == "image/svg+xml"
    svg = scatter.content.decode()
    assert svg.startswith("<svg") and svg.count("<circle") == 3 and svg.count('stroke="#c0392b"') == 1
    confusion = admin_client.get(
        reverse("admin:training_comparisonrun_plot", args=[run.pk, "confusion"]) + "?model=base"
    )
    assert confusion.status_code == 200 and "confusion matrix" in confusion.content.decode()
    assert (
        admin_client.get(
            reverse("admin:training_comparisonrun_plot", args=[run.pk, "scatter"]) + "?model=zz"
        ).status_code
        == 404
    )


def test_admin_start_form_queues_a_comparison(admin_client, examples, servers):
    base, candidate = servers
    base_ref, ft_ref = refs(base, candidate)
    url = reverse("admin:training_comparisonrun_add")
    assert "Start a comparison" in admin_client.get(url).content.decode()

    bad = admin_client.post(url, {"models": "only-one", "split": "val", "repeats": 1})
    assert "write LABEL=REF" in bad.content.decode()

    response = admin_client.post(url, {"models": f"base={base_ref}\nft={ft_ref}", "split": "val", "repeats": 1})
    run = ComparisonRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{run.pk}/change/")
    assert run.status in {JobStatus.PENDING, JobStatus.DONE}


@pytest.mark.celery_worker
def test_a_real_worker_on_the_training_queue_runs_the_comparison(celery_worker_factory, api_client, servers):
    for answer, human in zip(ANSWERS, HUMAN, strict=True):
        reviewed_example(answer, human)
    base, candidate = servers
    base_ref, ft_ref = refs(base, candidate)
    body = {"models": [{"label": "base", "ref": base_ref}, {"label": "ft", "ref": ft_ref}], "filters": {}}
    # Only the `training` queue is consumed: the comparison reaches the worker only if its route sends it there.
    with celery_worker_factory(extra_env={"COMPARISON_BOOTSTRAP_RESAMPLES": "100"}, queues="training"):
        accepted = api_client.post("/api/v1/comparisons", body, content_type="application/json").json()
        detail = job_wait(api_client, f"/api/v1/comparisons/{accepted['id']}")
    assert detail["status"] == "done", detail
    assert detail["report"]["models"]["ft"]["valid_json_rate"] == 0.75
