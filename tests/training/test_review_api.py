"""The review queue and agreement over the API: GET queue/next, POST examples/{id}/review, GET agreement."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission

from evaluation.services import api_key_create
from training.models import Review, TrainingExample
from training.services import collection_settings_update

from .factories import TrainingExampleFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/training"


def bearer(client, raw_key: str):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw_key}"
    return client


def key_for(user, name: str) -> str:
    return api_key_create(name=name, scopes=["review"], username=user.username)[1]


def review(client, example_id: int, body: dict):
    return client.post(f"{BASE}/examples/{example_id}/review", data=json.dumps(body), content_type="application/json")


@pytest.fixture
def ben(django_user_model, reviewers_group):
    user = django_user_model.objects.create_user(username="ben", is_staff=True)
    user.groups.add(reviewers_group)
    return user


def test_next_gives_the_queue_top_with_opinions_and_holds_it(client, reviewer):
    TrainingExampleFactory(language="es", disagreement=9.0)
    disputed = TrainingExampleFactory(
        language="en", disagreement=4.0, opinions={"llama3.2:3b": 6.0, "heuristic-v2": 2.0}
    )
    calm = TrainingExampleFactory(language="en", disagreement=0.5, opinions={"llama3.2:3b": 6.0, "heuristic-v2": 5.5})
    bearer(client, key_for(reviewer, "rita"))

    response = client.get(f"{BASE}/queue/next", {"language": "en"})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == disputed.pk and body["opinions"] == {"llama3.2:3b": 6.0, "heuristic-v2": 2.0}
    assert body["reserved_until"] and body["remaining"] == 1 and body["reviews"] == []
    assert body["version"] == 0 and body["question"] == disputed.question
    assert TrainingExample.objects.get(pk=disputed.pk).reserved_by == reviewer

    newest = client.get(f"{BASE}/queue/next", {"language": "en", "order": "newest"}).json()
    assert newest["id"] == calm.pk


def test_two_reviewers_get_different_examples_and_an_empty_queue_is_204(client, reviewer, ben):
    TrainingExampleFactory.create_batch(2)
    rita_key, ben_key = key_for(reviewer, "rita"), key_for(ben, "ben")
    first = bearer(client, rita_key).get(f"{BASE}/queue/next").json()
    second = bearer(client, ben_key).get(f"{BASE}/queue/next").json()
    assert first["id"] != second["id"]
    assert review(client, second["id"], {"action": "approve"}).json()["review_status"] == "approved"
    assert review(client, first["id"], {"action": "approve"}).status_code == 409  # rita holds it
    assert client.get(f"{BASE}/queue/next").status_code == 204


def test_a_review_says_the_resulting_status_and_records_a_row(client, reviewer, ben):
    collection_settings_update(reviews_required=2)
    example = TrainingExampleFactory(score=6.0)
    body = review(
        bearer(client, key_for(reviewer, "rita")), example.pk, {"action": "approve", "seconds_spent": 8}
    ).json()
    assert body["review_status"] == "pending" and body["version"] == 1
    body = review(bearer(client, key_for(ben, "ben")), example.pk, {"action": "correct", "score": 9.5}).json()
    assert body["review_status"] == "adjudication"
    assert [row["reviewer"] for row in body["reviews"]] == ["ben", "rita"]


def test_a_key_bound_to_no_user_cannot_review(api_client):
    example = TrainingExampleFactory()
    before = TrainingExample.objects.values().get(pk=example.pk)
    for response in (api_client.get(f"{BASE}/queue/next"), review(api_client, example.pk, {"action": "approve"})):
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        assert "bound to no user" in response.json()["detail"]
    assert TrainingExample.objects.values().get(pk=example.pk) == before and not Review.objects.exists()


@pytest.mark.parametrize(
    ("setup", "body", "status", "field"),
    [
        ("none", {"action": "correct", "score": 11}, 422, "score"),
        (
            "none",
            {
                "action": "correct",
                "score": 9,
                "breakdown": {"completeness": 1, "technical_depth": 1, "clarity": 1, "key_concepts": 1},
            },
            422,
            "breakdown",
        ),
        ("decided", {"action": "approve"}, 409, "review_status"),
        ("reserved", {"action": "approve"}, 409, "reserved_by"),
        ("stale", {"action": "reject", "expected_version": 0}, 409, "version"),
        ("adjudication", {"action": "approve"}, 403, None),
    ],
)
def test_bad_reviews_are_4xx_and_nothing_stored_changes(client, reviewer, ben, setup, body, status, field):
    example = TrainingExampleFactory(score=6.0)
    if setup == "decided":
        TrainingExample.objects.filter(pk=example.pk).update(review_status="approved", version=1)
    elif setup == "reserved":
        bearer(client, key_for(ben, "ben")).get(f"{BASE}/queue/next")
    elif setup == "stale":
        TrainingExample.objects.filter(pk=example.pk).update(version=3)
    elif setup == "adjudication":
        TrainingExample.objects.filter(pk=example.pk).update(review_status="adjudication")
    before = TrainingExample.objects.values().get(pk=example.pk)
    reviews = Review.objects.count()

    response = review(bearer(client, key_for(reviewer, "rita")), example.pk, body)
    assert response.status_code == status and response.json()["detail"]
    if field:
        assert response.json()["field"].startswith(field)
    assert TrainingExample.objects.values().get(pk=example.pk) == before and Review.objects.count() == reviews


def test_an_adjudicator_decides_through_the_same_endpoint(client, reviewer):
    reviewer.user_permissions.add(Permission.objects.get(codename="adjudicate_trainingexample"))
    example = TrainingExampleFactory(review_status="adjudication", score=6.0)
    client.force_login(reviewer)
    body = review(client, example.pk, {"action": "correct", "score": 5.0}).json()
    assert body["review_status"] == "approved" and body["score"] == 5.0


def test_agreement_has_the_documented_shape(api_client, reviewer):
    body = api_client.get(f"{BASE}/agreement").json()
    assert set(body) == {
        "reviews_required",
        "items_with_multiple_reviews",
        "krippendorff_alpha",
        "pairs",
        "machine_vs_human",
        "by_category",
        "reviewers",
    }
    assert body["krippendorff_alpha"] is None and body["machine_vs_human"] == {"items": 0, "qwk": None, "mae": None}


def test_bad_queue_parameters_are_422(client, reviewer):
    bearer(client, key_for(reviewer, "rita"))
    response = client.get(f"{BASE}/queue/next", {"order": "random"})
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"
