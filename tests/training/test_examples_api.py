"""The curation API under /api/v1/training/: statistics, the example list, reviews and collection settings."""

from __future__ import annotations

import json

import pytest

from training.models import TrainingExample

from .factories import TrainingExampleFactory, grade

pytestmark = pytest.mark.django_db

BASE = "/api/v1/training"


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def put(client, url, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def reviewer_api_client(client, reviewer):
    """A client with a key bound to the reviewer: reviews through the API are attributed to a person."""
    from evaluation.services import api_key_create

    _, raw_key = api_key_create(name="rita's key", scopes=["review"], username=reviewer.username)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw_key}"
    return client


def test_everything_needs_a_key_or_a_staff_session(client):
    for url in (f"{BASE}/stats", f"{BASE}/examples", f"{BASE}/collection"):
        response = client.get(url)
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_stats_have_the_original_names(api_client):
    TrainingExampleFactory(score=8.0)
    TrainingExampleFactory(score=2.0, review_status="approved")
    body = api_client.get(f"{BASE}/stats").json()
    assert set(body) == {
        "total_examples",
        "by_category",
        "by_difficulty",
        "by_role",
        "by_source",
        "by_review_status",
        "score_distribution",
        "human_reviewed",
        "automatic_approvals",
        "reviewed_share",
        "agreement_monitor",  # issue 14: machine vs. human over each grader's last reviews
    }
    assert body["total_examples"] == 2 and body["reviewed_share"] == 0.5
    assert body["score_distribution"] == {"0-3": 1, "3-5": 0, "5-7": 0, "7-9": 1, "9-10": 0}


def test_list_items_have_the_documented_fields(api_client):
    example = TrainingExampleFactory()
    body = api_client.get(f"{BASE}/examples").json()
    assert body["count"] == 1
    item = body["items"][0]
    assert {
        "id",
        "question",
        "answer",
        "expected_concepts",
        "keywords",
        "category",
        "difficulty",
        "role",
        "language",
        "score",
        "label",
        "original_score",
        "source",
        "review_status",
        "reviewed_by",
        "reviewed_at",
        "created_at",
    } <= set(item)
    assert item["id"] == example.pk and item["label"] == example.label


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("review_status=approved", {"approved"}),
        ("category=soft_skills", {"soft"}),
        ("difficulty=senior", {"senior"}),
        ("role=Data%20Engineer", {"data"}),
        ("language=es", {"spanish"}),
        ("source=human", {"human"}),
        ("min_score=8", {"high"}),
        ("max_score=2", {"low"}),
        ("min_score=1&max_score=2", {"low"}),
        ("q=RECURSION", {"recursion"}),
        ("review_status=pending&q=RECURSION", set()),
    ],
)
def test_filters(api_client, query, expected):
    TrainingExampleFactory(review_status="approved", answer="approved")
    TrainingExampleFactory(category="soft_skills", answer="soft")
    TrainingExampleFactory(difficulty="senior", answer="senior")
    TrainingExampleFactory(role="Data Engineer", answer="data")
    TrainingExampleFactory(language="es", answer="spanish")
    TrainingExampleFactory(source="human", answer="human")
    TrainingExampleFactory(score=9.0, answer="high")
    TrainingExampleFactory(score=1.5, answer="low")
    TrainingExampleFactory(question="Explain recursion", answer="recursion", review_status="rejected")
    body = api_client.get(f"{BASE}/examples?{query}").json()
    assert {item["answer"] for item in body["items"]} == expected
    assert body["count"] == len(expected)


def test_pagination_newest_first(api_client):
    examples = TrainingExampleFactory.create_batch(7)
    newest_first = [example.pk for example in reversed(examples)]
    first = api_client.get(f"{BASE}/examples?page_size=3").json()
    third = api_client.get(f"{BASE}/examples?page_size=3&page=3").json()
    beyond = api_client.get(f"{BASE}/examples?page_size=3&page=9").json()
    assert [item["id"] for item in first["items"]] == newest_first[:3]
    assert [item["id"] for item in third["items"]] == newest_first[6:]
    assert beyond == {"items": [], "count": 7}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page_size=1000", "page_size"),
        ("review_status=maybe", "review_status"),
        ("min_score=11", "min_score"),
        ("min_score=abc", "min_score"),
    ],
)
def test_bad_query_parameters_are_422_with_the_field(api_client, query, field):
    response = api_client.get(f"{BASE}/examples?{query}")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    assert field in [error["field"] for error in body["errors"]]


def test_min_above_max_is_422(api_client):
    response = api_client.get(f"{BASE}/examples?min_score=8&max_score=2")
    assert response.status_code == 422 and response.json()["field"] == "min_score"


def test_detail_and_not_found(api_client):
    example = TrainingExampleFactory()
    assert api_client.get(f"{BASE}/examples/{example.pk}").json()["id"] == example.pk
    response = api_client.get(f"{BASE}/examples/999999")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_approve_and_reject_through_the_api(reviewer_api_client):
    example = TrainingExampleFactory()
    url = f"{BASE}/examples/{example.pk}/review"
    body = post(reviewer_api_client, url, {"action": "approve", "note": "fine"}).json()
    assert body["review_status"] == "approved" and body["reviewed_by"] == "rita"
    assert body["review_note"] == "fine"
    # A decided example is changed only after it is sent back to the queue (issue 10: no silent overwrite).
    response = post(reviewer_api_client, url, {"action": "reject"})
    assert response.status_code == 409 and "already approved" in response.json()["detail"]
    assert post(reviewer_api_client, url, {"action": "reopen"}).json()["review_status"] == "pending"
    body = post(reviewer_api_client, url, {"action": "reject"}).json()
    assert body["review_status"] == "rejected"


def test_correct_through_the_api(reviewer_api_client):
    example = TrainingExampleFactory(score=4.0)
    response = post(reviewer_api_client, f"{BASE}/examples/{example.pk}/review", {"action": "correct", "score": 7.5})
    assert response.status_code == 200
    body = response.json()
    assert body["score"] == 7.5 and body["label"]["score"] == 7.5
    assert body["original_score"] == 4.0 and body["source"] == "human" and body["review_status"] == "approved"


def test_correct_with_a_full_label(reviewer_api_client):
    example = TrainingExampleFactory()
    label = grade(9.5)
    body = post(
        reviewer_api_client, f"{BASE}/examples/{example.pk}/review", {"action": "correct", "label": label}
    ).json()
    assert body["label"] == label


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"action": "correct", "score": 11}, 422, "invalid_input"),
        ({"action": "correct", "label": {"score": 5}}, 422, "invalid_input"),
        ({"action": "correct"}, 422, "invalid_input"),
        ({"action": "approve", "score": 5}, 422, "invalid_input"),
        ({"action": "promote"}, 422, "invalid_input"),
        ({"action": "correct", "score": "high"}, 422, "invalid_input"),
    ],
)
def test_bad_reviews_are_refused_and_nothing_changes(reviewer_api_client, body, status, code):
    example = TrainingExampleFactory()
    before = TrainingExample.objects.values().get(pk=example.pk)
    response = post(reviewer_api_client, f"{BASE}/examples/{example.pk}/review", body)
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["detail"]
    assert TrainingExample.objects.values().get(pk=example.pk) == before


def test_reviewing_a_missing_example_is_404(reviewer_api_client):
    response = post(reviewer_api_client, f"{BASE}/examples/999999/review", {"action": "approve"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_approving_a_rejected_example_is_409_until_reopened(reviewer_api_client):
    example = TrainingExampleFactory(review_status="rejected")
    url = f"{BASE}/examples/{example.pk}/review"
    response = post(reviewer_api_client, url, {"action": "approve"})
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert "rejected" in response.json()["detail"]
    assert post(reviewer_api_client, url, {"action": "reopen"}).json()["review_status"] == "pending"
    assert post(reviewer_api_client, url, {"action": "approve"}).json()["review_status"] == "approved"


def test_a_staff_session_needs_the_review_permission(client, django_user_model, reviewer):
    example = TrainingExampleFactory()
    url = f"{BASE}/examples/{example.pk}/review"
    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    client.force_login(viewer)
    response = post(client, url, {"action": "approve"})
    assert response.status_code == 403 and response.json()["code"] == "forbidden"

    client.force_login(reviewer)
    body = post(client, url, {"action": "approve"}).json()
    assert body["review_status"] == "approved" and body["reviewed_by"] == "rita"


def test_collection_settings_read_and_replace(api_client):
    assert api_client.get(f"{BASE}/collection").json() == {
        "enabled": True,
        "min_score_threshold": 3.0,
        "sources": ["llm", "human"],
        "reviews_required": 1,
        "review_reservation_seconds": 600,
    }
    new = {"enabled": False, "min_score_threshold": 5.5, "sources": ["llm", "heuristic"]}
    expected = new | {"reviews_required": 1, "review_reservation_seconds": 600}
    assert put(api_client, f"{BASE}/collection", new).json() == expected
    assert api_client.get(f"{BASE}/collection").json() == expected
    both = new | {"reviews_required": 3, "review_reservation_seconds": 300}
    assert put(api_client, f"{BASE}/collection", both).json() == both


@pytest.mark.parametrize(
    "body",
    [
        {"enabled": True, "min_score_threshold": 12, "sources": ["llm"]},
        {"enabled": True, "min_score_threshold": 3, "sources": ["crowd"]},
        {"enabled": True, "sources": ["llm"]},
        {"enabled": True, "min_score_threshold": 3, "sources": ["llm"], "reviews_required": 0},
        {"enabled": True, "min_score_threshold": 3, "sources": ["llm"], "reviews_required": 6},
        {"enabled": True, "min_score_threshold": 3, "sources": ["llm"], "review_reservation_seconds": 5},
    ],
)
def test_bad_collection_settings_are_422_and_nothing_changes(api_client, body):
    response = put(api_client, f"{BASE}/collection", body)
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"
    assert api_client.get(f"{BASE}/collection").json()["min_score_threshold"] == 3.0


def test_a_reviewer_cannot_change_the_collection_settings(client, reviewer):
    client.force_login(reviewer)
    response = put(client, f"{BASE}/collection", {"enabled": False, "min_score_threshold": 3, "sources": []})
    assert response.status_code == 403
