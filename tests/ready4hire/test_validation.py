"""Input that cannot be stored, means nothing or is not understood is refused with 422 naming the field, in
every body and query, and nothing stored changes."""

from __future__ import annotations

import json

import pytest

from evaluation.models import Evaluation
from ready4hire.validation import text_problem, texts_problem
from tests.training.factories import TrainingExampleFactory
from training.models import ModelVersion, TrainingExample

pytestmark = pytest.mark.django_db

GRADE = "/api/v1/evaluations"
GOOD = {
    "question": "What is an index in a relational database?",
    "answer": "A structure such as a B-tree that lets the database find rows without reading the whole table.",
    "expected_concepts": ["B-tree"],
    "keywords": ["lookup"],
}
ZERO_WIDTH_ONLY = "\u200b \u200c\u200d\u2060\ufeff\t\n"


def post(client, url, body, method="post"):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def assert_refused(response, field):
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid_input" and body["field"] == field, body
    assert field in body["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"answer": "a NUL \x00 inside"}, "answer"),
        ({"question": "What is\x00 this?"}, "question"),
        ({"answer": "bell \x07"}, "answer"),
        ({"answer": "C1 control \x85"}, "answer"),
        ({"answer": "lone surrogate \ud800"}, "answer"),
        ({"question": "\udfff"}, "question"),
        ({"answer": ZERO_WIDTH_ONLY}, "answer"),
        ({"question": "\u200b"}, "question"),
        ({"expected_concepts": ["GIL", "bad\x00"]}, "expected_concepts.1"),
        ({"keywords": ["\u200b"]}, "keywords.0"),
        ({"role": "Backend\x00"}, "role"),
        ({"role": "\u200b\u200b"}, "role"),
        ({"model": "../../etc/passwd"}, "model"),
        ({"model": "\x00"}, "model"),
        ({"lang": "en"}, "lang"),
        ({"language": "fr"}, "language"),
    ],
)
def test_a_grading_request_that_cannot_be_stored_is_refused(api_client, change, field):
    assert_refused(post(api_client, GRADE, {**GOOD, **change}), field)
    assert Evaluation.objects.count() == 0 and TrainingExample.objects.count() == 0


def test_tabs_newlines_and_visible_text_around_zero_width_characters_are_accepted(api_client):
    response = post(api_client, GRADE, {**GOOD, "answer": "Line one\r\n\tline two \u200b with a B-tree."})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "model_setup",
    ["default", "allowed", "served_name", "reference"],
)
def test_model_names_the_project_knows_are_accepted(api_client, settings, model_setup):
    settings.LLM_ALLOWED_MODELS = ["qwen2.5:7b"]
    ModelVersion.objects.create(name="grader", version=2, served_name="grader-v2:latest")
    model = {
        "default": settings.LLM_MODEL,
        "allowed": "qwen2.5:7b",
        "served_name": "grader-v2:latest",
        "reference": "grader:v2",
    }[model_setup]
    response = post(api_client, GRADE, {**GOOD, "model": model})
    assert response.status_code == 200, response.content
    assert Evaluation.objects.get().requested_model == model


def test_a_version_without_a_served_name_or_an_unknown_version_is_refused(api_client):
    ModelVersion.objects.create(name="grader", version=1)
    assert_refused(post(api_client, GRADE, {**GOOD, "model": "grader:v1"}), "model")
    assert_refused(post(api_client, GRADE, {**GOOD, "model": "grader:v9"}), "model")
    assert Evaluation.objects.count() == 0


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (GRADE, {"model": "\x00"}, "model"),
        (GRADE, {"model": "\u200b"}, "model"),
        ("/api/v1/training/examples", {"q": "\x00"}, "q"),
        ("/api/v1/training/examples", {"role": "a\x1bb"}, "role"),
        ("/api/v1/datasets", {"name": "\x00"}, "name"),
        ("/api/v1/modelfiles", {"name": "\x00"}, "name"),
    ],
)
def test_query_text_that_cannot_be_stored_is_refused(api_client, url, params, field):
    assert_refused(api_client.get(url, params), field)


LISTS = [
    GRADE,
    "/api/v1/training/examples",
    "/api/v1/datasets",
    "/api/v1/modelfiles",
    "/api/v1/finetune-runs",
    "/api/v1/comparisons",
]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "99999999999999999999"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "1000001"}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "99999999999999999999"}, "page_size"),
    ],
)
def test_pages_out_of_range_are_refused_on_every_list(api_client, url, params, field):
    assert_refused(api_client.get(url, params), field)


def test_the_last_allowed_page_is_simply_empty(api_client):
    response = api_client.get(GRADE, {"page": "1000000"})
    assert response.status_code == 200 and response.json()["items"] == []


# One unknown field per input body: a misspelt option must never pass for the default.
BODIES = [
    ("post", GRADE, {**GOOD, "concepts": ["GIL"]}, "concepts"),
    ("post", "/api/v1/training/examples/1/review", {"action": "approve", "comment": "x"}, "comment"),
    (
        "put",
        "/api/v1/training/collection",
        {"enabled": True, "min_score_threshold": 0, "sources": ["llm"], "paused": True},
        "paused",
    ),
    ("post", "/api/v1/datasets", {"filters": {}, "min_score": 5}, "min_score"),
    ("post", "/api/v1/modelfiles", {"name": "m", "from": "llama3.2:3b", "temprature": 0.1}, "temprature"),
    ("post", "/api/v1/modelfiles/1/push", {"validate": True, "force": True}, "force"),
    (
        "post",
        "/api/v1/comparisons",
        {"models": [{"label": "a", "ref": "x"}, {"label": "b", "ref": "y", "url": "z"}]},
        "models.1.url",
    ),
    (
        "post",
        "/api/v1/finetune-runs",
        {"dataset_export_id": 1, "hyperparameters": {"steps": 5}},
        "hyperparameters.steps",
    ),
    ("post", "/api/v1/model-versions/1/promote", {"category": "all", "forced": True}, "forced"),
    ("post", "/api/v1/model-versions/1/retire", {"reason": "old"}, "reason"),
]


@pytest.mark.parametrize(("method", "url", "body", "field"), BODIES, ids=[row[1] for row in BODIES])
def test_unknown_fields_are_refused_naming_them(api_client, method, url, body, field):
    response = post(api_client, url, body, method=method)
    assert_refused(response, field)
    assert "Extra inputs are not permitted" in json.dumps(response.json()["errors"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "approve", "note": "ok\x00"}, "note"),
        ({"action": "correct", "justification": "\u200b"}, "justification"),
        ({"action": "correct", "missing_concepts": ["\ud800"]}, "missing_concepts.0"),
        ({"action": "correct", "label": {"justification": "x\x00"}}, "label"),
    ],
)
def test_a_review_with_unstorable_text_changes_nothing(api_client, body, field):
    example = TrainingExampleFactory(review_status="pending")
    assert_refused(post(api_client, f"/api/v1/training/examples/{example.pk}/review", body), field)
    example.refresh_from_db()
    assert example.review_status == "pending" and example.review_note == ""


def test_the_text_rules_as_functions():
    assert text_problem("fine\ttext\r\n") is None
    assert text_problem("", required=False) is None
    assert "empty" in text_problem("")
    assert "empty" in text_problem("\u200b", required=False)
    assert "U+0000" in text_problem("\x00")
    assert "surrogate" in text_problem("\ud800")
    assert texts_problem({"a": ["ok", {"b": "x\x00"}]}) == (
        "a.1.b",
        "must not contain control characters (found U+0000)",
    )
    assert texts_problem({"a": ["", "ok"], "b": 1}) is None
