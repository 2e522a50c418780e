"""Comparisons send each model its own prompt (a compact version the compact one, a plain server model name
the full one) and report what a grade cost each: prompt tokens as the server counted them, latency."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from evaluation.llm.prompts import build_system_prompt
from tests.llm_servers import FakeOllamaServer, FakeOpenAIServer
from training.comparison_report import PromptUsage, table_cell
from training.management.commands.compare_models import comparison_table
from training.models import ComparisonRun, JobStatus
from training.services import comparison_create_and_run, model_version_register

from .comparison_helpers import ANSWERS, dataset_export, reviewed_example
from .factories import DatasetExportFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("comparison_settings")]

HUMAN = [8.0, 5.0, 2.0, 6.0]
TUNED = "ready4hire-ft:v1"


@pytest.fixture
def examples():
    return [reviewed_example(answer, human) for answer, human in zip(ANSWERS, HUMAN, strict=True)]


@pytest.fixture
def compact_version(media_root):
    return model_version_register(
        served_name=TUNED, dataset_export=DatasetExportFactory(name="compact", prompt_variant="compact")
    )


def test_each_model_gets_its_own_prompt_and_the_report_shows_its_tokens_and_latency(examples, compact_version):
    with FakeOllamaServer() as base, FakeOpenAIServer(models=(TUNED,)) as tuned:
        export = dataset_export(val=[example.pk for example in examples])
        run = comparison_create_and_run(
            models=[
                ("base", f"llama3.2:3b@ollama+{base.base_url}"),
                ("ft", f"{compact_version.reference}@openai+{tuned.base_url}"),
            ],
            dataset_export_id=export.pk,
            repeats=2,
        )
        base_systems = {r.body["messages"][0]["content"] for r in base.chat_requests}
        tuned_systems = {r.body["messages"][0]["content"] for r in tuned.chat_requests}
        # What each server counted for the prompts it was sent (the fake servers count ~4 characters a token).
        served = {
            "base": [r.body["messages"] for r in base.chat_requests],
            "ft": [r.body["messages"] for r in tuned.chat_requests],
        }

    languages = {example.language for example in examples}
    assert base_systems == {build_system_prompt(language) for language in languages}
    assert tuned_systems == {build_system_prompt(language, "compact") for language in languages}
    assert run.status == JobStatus.DONE
    assert [(c["label"], c["prompt_variant"]) for c in run.contenders] == [("base", "full"), ("ft", "compact")]

    figures = run.report["models"]
    for label, sent in served.items():
        counted = [max(1, len("".join(m["content"] for m in messages)) // 4) for messages in sent]
        assert figures[label]["prompt_tokens_mean"] == pytest.approx(sum(counted) / len(counted), abs=0.06)
        assert figures[label]["prompt_tokens_source"] == "server" and figures[label]["prompt_tokens_counted"] == 8
        assert figures[label]["latency_mean_ms"] is not None and figures[label]["latency_p50_ms"] is not None
    assert figures["ft"]["prompt_tokens_mean"] < figures["base"]["prompt_tokens_mean"] - 500
    assert (figures["base"]["prompt_variant"], figures["ft"]["prompt_variant"]) == ("full", "compact")

    table = comparison_table(run.report).splitlines()
    assert table[0].split()[-5:] == ["p50", "ms", "prompt", "tok", "prompt"]
    base_row, ft_row = table[1].split(), table[2].split()
    assert base_row[-2:] == [f"{figures['base']['prompt_tokens_mean']:.0f}", "full"]
    assert ft_row[-2:] == [f"{figures['ft']['prompt_tokens_mean']:.0f}", "compact"]


def test_a_server_that_counts_no_tokens_gets_an_estimate_marked_as_one(examples):
    usage = PromptUsage().adding(server_tokens=None, estimated_tokens=900)
    usage = usage.adding(server_tokens=None, estimated_tokens=1100)
    figures = usage.figures()
    assert figures == {"prompt_tokens_mean": 1000.0, "prompt_tokens_source": "estimate", "prompt_tokens_counted": 2}
    assert table_cell(figures, "prompt_tokens_mean", "tokens") == "≈1000"
    counted = usage.adding(server_tokens=700, estimated_tokens=1000).figures()
    assert counted["prompt_tokens_source"] == "server" and table_cell(counted, "prompt_tokens_mean", "tokens") == "700"


def test_compare_models_writes_the_cost_per_model_in_the_table_and_the_json(examples, compact_version, tmp_path):
    with FakeOllamaServer(models=("llama3.2:3b", TUNED)) as server:
        export = dataset_export(val=[example.pk for example in examples])
        out, path = StringIO(), tmp_path / "report.json"
        call_command(
            "compare_models", "--dataset", str(export.pk), "--models",
            f"base=llama3.2:3b@ollama+{server.base_url}", f"ft={compact_version.reference}@ollama+{server.base_url}",
            "--json", str(path), "--no-progress", stdout=out, stderr=StringIO(),
        )  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[1].split()[-5:] == ["p50", "ms", "prompt", "tok", "prompt"]
    assert lines[2].split()[-1] == "full" and lines[3].split()[-1] == "compact"
    report = json.loads(path.read_text(encoding="utf-8"))
    for label in ("base", "ft"):
        assert {"prompt_tokens_mean", "prompt_tokens_source", "latency_mean_ms", "latency_p50_ms"} <= set(
            report["models"][label]
        )
    assert report["models"]["ft"]["prompt_tokens_mean"] < report["models"]["base"]["prompt_tokens_mean"]


def test_the_admin_page_shows_tokens_latency_and_the_prompt_per_model(admin_client, examples, compact_version):
    with FakeOllamaServer(models=("llama3.2:3b", TUNED)) as server:
        export = dataset_export(val=[example.pk for example in examples])
        run = comparison_create_and_run(
            models=[
                ("base", f"llama3.2:3b@ollama+{server.base_url}"),
                ("ft", f"{compact_version.reference}@ollama+{server.base_url}"),
            ],
            dataset_export_id=export.pk,
        )
    response = admin_client.get(reverse("admin:training_comparisonrun_change", args=[run.pk]))
    page = response.content.decode()
    assert "prompt tok" in page and "mean ms" in page and "compact prompt" in page
    rows = {row["label"]: row["cells"] for row in response.context["report_rows"]}
    figures = ComparisonRun.objects.get().report["models"]
    assert rows["ft"][-2:] == [f"{figures['ft']['prompt_tokens_mean']:.0f}", "compact"]
    assert rows["base"][-1] == "full"
