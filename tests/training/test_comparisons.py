"""comparison_create / comparison_run against two real loopback servers scripted differently, with the
report's numbers checked against values worked out by hand on four examples."""

from __future__ import annotations

import json
from statistics import fmean

import pytest

from ready4hire.errors import InvalidInput
from tests.llm_servers import FakeOllamaServer, FakeOpenAIServer, grade_for
from training.metrics import icc_one_way, quadratic_weighted_kappa, spearman
from training.models import ComparisonItem, ComparisonRun, JobStatus
from training.services import comparison_create, comparison_create_and_run, comparison_run

from .comparison_helpers import ANSWERS, dataset_export, fake_grade, reviewed_example

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("comparison_settings")]

HUMAN = [8.0, 5.0, 2.0, 6.0]  # the reviewers' scores of the four ANSWERS, in order
MODEL = list(ANSWERS.values())  # what a `valid` fake server gives them: 9, 5, 1, 5


@pytest.fixture
def examples():
    missing = [[], ["beta"], ["alpha"], ["beta", "gamma"]]
    return [
        reviewed_example(answer, human, human_missing=gone)
        for (answer, human, gone) in zip(ANSWERS, HUMAN, missing, strict=True)
    ]


@pytest.fixture
def servers():
    with FakeOllamaServer() as base, FakeOpenAIServer() as candidate:
        yield base, candidate


def models(base, candidate, *, candidate_ref="llama3.2:3b"):
    return [("base", f"llama3.2:3b@ollama+{base.base_url}"), ("ft", f"{candidate_ref}@openai+{candidate.base_url}")]


def test_the_fake_server_grades_the_examples_as_the_hand_computation_assumes(examples):
    assert [fake_grade(example)["score"] for example in examples] == MODEL


def test_report_numbers_match_the_hand_computation_and_an_invalid_grade_is_a_miss(examples, servers):
    base, candidate = servers
    candidate.script("valid", "invalid_json", "valid", "valid")  # the second example's grade is broken
    export = dataset_export(val=[example.pk for example in examples])

    run = comparison_create_and_run(models=models(base, candidate), dataset_export_id=export.pk)

    assert run.status == JobStatus.DONE and run.progress == 100
    report = run.report
    assert set(report) == {"models", "improvement", "gate", "left_out"}  # left_out: issue 13
    good, bad = report["models"]["base"], report["models"]["ft"]

    # base: every grade valid; scores 9, 5, 1, 5 against 8, 5, 2, 6.
    assert good["valid_json_rate"] == 1.0 and good["schema_valid_rate"] == 1.0
    assert good["mae"] == 0.75  # (1 + 0 + 1 + 1) / 4
    assert good["msd"] == -0.25  # (1 + 0 - 1 - 1) / 4
    assert good["exact"] == 0.25 and good["adjacent"] == 1.0
    assert good["qwk"] == pytest.approx(quadratic_weighted_kappa([9, 5, 1, 5], [8, 5, 2, 6]), abs=1e-4)
    assert good["spearman"] == pytest.approx(spearman(MODEL, HUMAN), abs=1e-4)
    assert good["concept_recall"] == 0.75  # beta, alpha, and beta of (beta, gamma): 3 of 4
    assert good["rouge_l"] == 1.0 and good["bleu"] == 100.0
    assert good["consistency_sd"] is None and good["icc"] is None  # one repeat
    assert good["latency_p50_ms"] is not None and good["latency_p95_ms"] >= good["latency_p50_ms"]

    # ft: the second grade is invalid JSON, so it counts as 0 (the end farthest from the human's 5): 9, 0, 1, 5.
    assert bad["valid_json_rate"] == 0.75 and bad["schema_valid_rate"] == 0.75
    assert bad["mae"] == 2.0  # (1 + 5 + 1 + 1) / 4
    assert bad["exact"] == 0.0 and bad["adjacent"] == 0.75
    assert bad["qwk"] == pytest.approx(quadratic_weighted_kappa([9, 0, 1, 5], [8, 5, 2, 6]), abs=1e-4)
    assert bad["qwk"] < good["qwk"]
    assert bad["concept_recall"] == 0.5  # the broken grade reports no missing concept
    assert bad["rouge_l"] == 0.75 and bad["bleu"] < 100.0

    for figures in (good, bad):
        assert set(figures["ci"]) == {"qwk", "spearman", "pearson", "mae", "exact", "adjacent"}
        low, high = figures["ci"]["mae"]
        assert low <= figures["mae"] <= high

    improvement = report["improvement"]["ft"]
    assert improvement["over"] == "base"
    assert improvement["mae"]["absolute"] == -1.25  # the MAE grew from 0.75 to 2.0: a negative reduction
    assert improvement["mae"]["relative"] == pytest.approx(-1.25 / 0.75, abs=1e-4)
    assert improvement["qwk"]["absolute"] == pytest.approx(bad["qwk"] - good["qwk"], abs=1e-3)

    gate = report["gate"]["ft"]
    assert gate["passed"] is False
    assert "schema-valid rate 0.750 < 0.990" in gate["reasons"]
    assert run.gate == report["gate"]

    items = ComparisonItem.objects.filter(run=run, model_label="ft").order_by("example_id")
    broken = items.get(example=examples[1])
    assert (broken.valid_json, broken.schema_valid, broken.score) == (False, False, None)
    assert broken.raw_output == '{"score": 7,' and "invalid JSON" in broken.error
    assert [item.score for item in items if item.schema_valid] == [9.0, 1.0, 5.0]


def test_every_model_gets_the_live_prompt_with_a_seed_per_repeat(examples, servers, settings):
    settings.LLM_TEMPERATURE = 0.3
    base, candidate = servers
    comparison_create_and_run(models=models(base, candidate), filters={"category": "technical"}, repeats=2, seed=7)
    bodies = [request.body for request in base.chat_requests]
    assert len(bodies) == 8 and len(candidate.chat_requests) == 8  # 4 examples × 2 repeats each
    assert [body["options"]["seed"] for body in bodies] == [7, 8] * 4
    assert {body["options"]["temperature"] for body in bodies} == {0.3}
    assert bodies[0]["messages"][0]["role"] == "system" and "<candidate_answer>" in bodies[0]["messages"][1]["content"]
    assert candidate.chat_requests[0].body["response_format"]["type"] == "json_schema"


def test_repeats_give_consistency_and_icc(examples, servers):
    base, candidate = servers
    candidate.script("valid", "invalid_json")  # the first example: valid, then broken on its second repeat
    run = comparison_create_and_run(models=models(base, candidate), filters={}, repeats=2)

    steady, shaky = run.report["models"]["base"], run.report["models"]["ft"]
    assert steady["consistency_sd"] == 0.0 and steady["icc"] == 1.0
    # ft's first example scored 9 then 0 (a miss against the human's 8): sd 4.5; the others 0.
    assert shaky["consistency_sd"] == pytest.approx(fmean([4.5, 0, 0, 0]))
    expected_icc = icc_one_way([[9.0, 0.0], [5.0, 5.0], [1.0, 1.0], [5.0, 5.0]])
    assert shaky["icc"] == pytest.approx(expected_icc, abs=1e-4)
    assert shaky["n_grades"] == 8 and shaky["n_items"] == 4


def test_the_gate_passes_a_candidate_clearly_better_than_its_base(servers):
    base, candidate = servers
    base.default_mode = "invalid_json"
    examples = [reviewed_example(answer, score) for answer, score in ANSWERS.items()]  # humans agree with the fake
    run = comparison_create_and_run(models=models(base, candidate), filters={}, limit=len(examples))

    report = run.report
    assert report["models"]["base"]["schema_valid_rate"] == 0.0
    assert report["models"]["ft"]["qwk"] == 1.0 and report["models"]["ft"]["ci"]["qwk"] == [1.0, 1.0]
    gate = report["gate"]["ft"]
    assert gate["passed"] is True, gate
    assert any(reason.startswith("QWK lower bound 1.000 > base QWK") for reason in gate["reasons"])
    assert report["improvement"]["ft"]["qwk"]["absolute"] > 1


def test_the_relative_improvement_rule_of_the_gate(servers, settings):
    settings.PROMOTION_GATE_MIN_QWK_IMPROVEMENT = 0.2
    settings.PROMOTION_GATE_QWK_LOWER_ABOVE_BASE = False
    base, candidate = servers
    for answer, score in ANSWERS.items():
        reviewed_example(answer, score)
    run = comparison_create_and_run(models=models(base, candidate), filters={})
    # Two identical graders: no improvement at all.
    gate = run.report["gate"]["ft"]
    assert gate["passed"] is False
    assert "relative QWK improvement +0.0% < +20.0%" in gate["reasons"]


@pytest.mark.parametrize("ids_in", ["example_ids", "manifest"])
def test_only_approved_examples_of_the_export_split_are_compared(servers, ids_in):
    base, candidate = servers
    approved = reviewed_example("alpha beta", 8)
    pending = reviewed_example("alpha gamma", 5, review_status="pending")
    in_train = reviewed_example("gamma delta", 2)
    export = dataset_export(val=[approved.pk, pending.pk], train=[in_train.pk], ids_in=ids_in)

    run = comparison_create_and_run(models=models(base, candidate), dataset_export_id=export.pk, split="val")

    assert run.filters["example_ids"] == [approved.pk]
    assert set(ComparisonItem.objects.filter(run=run).values_list("example_id", flat=True)) == {approved.pk}


def test_an_export_without_example_ids_in_its_manifest_is_a_clear_error(servers):
    base, candidate = servers
    example = reviewed_example("alpha beta", 8)
    export = dataset_export(val=[example.pk], ids_in=None)
    with pytest.raises(InvalidInput, match="lists no example ids"):
        comparison_create(models=models(base, candidate), dataset_export_id=export.pk, start=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": [("base", "llama3.2:3b")]}, "at least two models"),
        ({"models": [("a", "x@ollama+http://127.0.0.1:1"), ("a", "y@ollama+http://127.0.0.1:1")]}, "unique"),
        ({"repeats": 0}, "repeats"),
        ({"filters": {"colour": "red"}}, "Unknown example filters: colour"),
        ({"filters": {"category": "soft_skills"}}, "No human-reviewed"),
        ({"models": [("a", "x"), ("b", "y")]}, "no LLM server is configured"),
        ({"models": [("a", "x@ftp+http://h"), ("b", "y@ollama+http://127.0.0.1:1")]}, "MODEL@BACKEND\\+URL"),
    ],
)
def test_create_refuses_what_cannot_be_compared(kwargs, message):
    reviewed_example("alpha beta", 8)
    arguments = {"models": [("a", "x@ollama+http://127.0.0.1:1"), ("b", "y@ollama+http://127.0.0.1:1")], **kwargs}
    with pytest.raises(InvalidInput, match=message):
        comparison_create(**arguments, start=False)
    assert not ComparisonRun.objects.exists()


def test_a_server_without_the_model_fails_the_run_with_the_reason(examples, servers):
    base, candidate = servers
    run = comparison_create(models=models(base, candidate, candidate_ref="nope:1b"), filters={}, start=False)
    with pytest.raises(InvalidInput, match="'nope:1b' is not on the server"):
        comparison_run(comparison_id=run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "nope:1b" in run.error


def test_running_twice_is_safe_and_a_failed_run_resumes_where_it_stopped(examples, servers):
    base, candidate = servers
    run = comparison_create(models=models(base, candidate, candidate_ref="nope:1b"), filters={}, start=False)
    with pytest.raises(InvalidInput):
        comparison_run(comparison_id=run.pk)
    assert ComparisonItem.objects.filter(run=run, model_label="base").count() == 4  # base finished first

    candidate.models = ("llama3.2:3b", "nope:1b")  # the model is pulled; run it again
    base.clear_requests()
    finished = comparison_run(comparison_id=run.pk)
    assert finished.status == JobStatus.DONE
    assert base.chat_requests == []  # base's grades were kept, not redone
    assert ComparisonItem.objects.filter(run=run).count() == 8

    again = comparison_run(comparison_id=run.pk)
    assert again.report == finished.report and len(candidate.chat_requests) == 4


def test_a_transport_failure_is_recorded_as_a_miss_not_a_crash(examples, servers):
    base, candidate = servers
    candidate.script("error_500")
    run = comparison_create_and_run(models=models(base, candidate), filters={})
    item = ComparisonItem.objects.filter(run=run, model_label="ft").order_by("example_id").first()
    assert item.valid_json is False and item.latency_ms is None and "HTTP 500" in item.error
    assert run.report["models"]["ft"]["valid_json_rate"] == 0.75


def test_create_queues_the_run_once_committed(examples, servers, django_capture_on_commit_callbacks):
    base, candidate = servers
    with django_capture_on_commit_callbacks(execute=True):
        run = comparison_create(models=models(base, candidate), filters={})
    run.refresh_from_db()
    assert run.status == JobStatus.DONE and run.report["models"]["base"]["n_items"] == 4


def test_json_of_the_wrong_shape_is_valid_json_but_not_a_valid_grade(examples, servers):
    base, candidate = servers
    candidate.script("schema_invalid", "out_of_range")  # the second is clamped to a valid 10, as live grading does
    run = comparison_create_and_run(models=models(base, candidate), filters={})
    figures = run.report["models"]["ft"]
    assert (figures["valid_json_rate"], figures["schema_valid_rate"]) == (1.0, 0.75)
    wrong_shape, clamped = ComparisonItem.objects.filter(run=run, model_label="ft").order_by("example_id")[:2]
    assert wrong_shape.output is None and "does not match the grade schema" in wrong_shape.error
    assert clamped.score == 10.0 and clamped.output["score"] == 10.0


class _NulWritingServer(FakeOpenAIServer):
    """Writes a NUL character inside the justification and after the JSON, as an untrained model may."""

    def _chat(self, body):
        grade = grade_for(body["messages"])
        grade["justification"] += "\x00"
        return self._chat_reply(body["model"], body, json.dumps(grade) + "\x00", 0)


def test_nul_characters_in_a_models_output_are_stored_on_every_database(examples, servers):
    base, _ = servers
    with _NulWritingServer() as nul:
        run = comparison_create_and_run(
            models=[("base", f"llama3.2:3b@ollama+{base.base_url}"), ("nul", f"llama3.2:3b@openai+{nul.base_url}")],
            filters={},
        )
    item = ComparisonItem.objects.filter(run=run, model_label="nul").first()
    assert item.schema_valid and item.raw_output.endswith("\ufffd") and "\x00" not in item.output["justification"]
