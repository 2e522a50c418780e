"""Who may call what, over the whole URL map: every operation declares a scope; a key with it is let through,
a key without it gets 403 naming it, no credentials get 401; staff sessions follow Django permissions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory

from evaluation.auth import SCOPES, declared_scope, request_actor, request_reviewer
from evaluation.models import ApiKey
from evaluation.services import api_key_create
from ready4hire.api import api
from ready4hire.errors import Forbidden

pytestmark = pytest.mark.django_db

# Operations anyone may call; a new one must be added here on purpose.
PUBLIC = {("GET", "/api/v1/health")}
MISSING_ID = "999999"


def operations() -> Iterator[tuple[str, str, str | None]]:
    """(method, URL with placeholder path values, declared scope) for every operation of the API."""
    for bound in api._get_bound_routers():
        for path, view in bound.path_operations.items():
            route = "/".join(part.strip("/") for part in (bound.prefix, path) if part.strip("/"))
            url = "/api/v1/" + re.sub(r"\{int:\w+\}", MISSING_ID, re.sub(r"\{(?!int:)\w+\}", "train", route))
            for operation in view.operations:
                for method in operation.methods:
                    yield method, url, declared_scope(operation.auth_callbacks)


OPERATIONS = sorted(operations())
SCOPED = [(method, url, scope) for method, url, scope in OPERATIONS if scope]


def call(client: Client, method: str, url: str, key: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.generic(method, url, "{}", content_type="application/json", **headers)


@pytest.fixture
def keys(django_user_model) -> dict[str, str]:
    """A key holding only each scope, and one holding every scope but it (admin excluded), all bound to a
    superuser so that nothing but the scope can refuse them."""
    owner = django_user_model.objects.create_superuser("owner", password="pw-123456789")
    made = {}
    for scope in SCOPES:
        made[scope] = api_key_create(name=f"only-{scope}", scopes=[scope], username="owner")[1]
        others = [other for other in SCOPES if other not in (scope, "admin")]
        made[f"not-{scope}"] = api_key_create(name=f"not-{scope}", scopes=others, username=owner.username)[1]
    return made


def test_every_operation_declares_a_scope_or_is_listed_public():
    undeclared = [f"{method} {url}" for method, url, scope in OPERATIONS if scope is None]
    assert not undeclared, f"operations without a declared scope: {undeclared}"
    public = {(method, url) for method, url, scope in OPERATIONS if scope == ""}
    assert public == PUBLIC
    assert {scope for _, _, scope in SCOPED} <= set(SCOPES)
    assert len(SCOPED) >= 25  # the walk really saw the URL map


@pytest.mark.parametrize(("method", "url", "scope"), SCOPED, ids=[f"{m} {u}" for m, u, _ in SCOPED])
def test_a_key_reaches_exactly_its_scopes(client, keys, method, url, scope):
    assert call(client, method, url).status_code == 401
    for allowed in (keys[scope], keys["admin"]):
        response = call(client, method, url, allowed)
        assert response.status_code not in (401, 403), response.content
    refused = call(client, method, url, keys[f"not-{scope}"])
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden" and f"'{scope}' scope" in refused.json()["detail"]


def test_a_reviewers_session_reaches_only_what_the_reviewers_group_sees(client, django_user_model):
    reviewer = django_user_model.objects.create_user("rita", is_staff=True)
    reviewer.groups.add(Group.objects.get(name="Reviewers"))
    client.force_login(reviewer)
    for method, url, scope in SCOPED:
        status = call(client, method, url).status_code
        if scope == "review" and method == "GET" or url.endswith("/training/stats"):
            assert status != 403, (method, url)
        elif scope != "review":
            assert status == 403, (method, url)


def test_a_request_without_credentials_gets_401_not_a_csrf_error():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/evaluations", {}, content_type="application/json")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_a_staff_session_still_needs_the_csrf_token_to_write(django_user_model):
    staff = django_user_model.objects.create_superuser("sam", password="pw-123456789")
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.get("/api/v1/training/collection").status_code == 200
    body = {"enabled": False, "min_score_threshold": 3, "sources": ["llm"]}
    refused = client.put("/api/v1/training/collection", body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.get("/api/v1/training/collection").json()["enabled"] is True
    client.get("/admin/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.put("/api/v1/training/collection", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200 and accepted.json()["enabled"] is False


def test_a_grading_key_cannot_switch_collection_off(client):
    _, raw = api_key_create(name="frontend")
    assert ApiKey.objects.get(name="frontend").scopes == ["grade"]
    body = {"enabled": False, "min_score_threshold": 3, "sources": ["human"]}
    response = client.put(
        "/api/v1/training/collection", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 403 and "'curate' scope" in response.json()["detail"]
    assert client.get("/api/v1/evaluations", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_a_key_acts_for_its_user_and_stops_with_them(client, django_user_model):
    ana = django_user_model.objects.create_user("ana", is_staff=True)
    key, raw = api_key_create(name="ana-laptop", scopes=["review"], username="ana")
    request = RequestFactory().get("/")
    request.auth = key
    assert request_actor(request).user == ana and request_reviewer(request) == ana
    ana.is_active = False
    ana.save()
    assert client.get("/api/v1/training/examples", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_a_key_bound_to_no_user_cannot_review():
    key, _ = api_key_create(name="robot", scopes=["review"])
    request = RequestFactory().get("/")
    request.auth = key
    assert request_actor(request).user is None
    with pytest.raises(Forbidden, match="bound to no user"):
        request_reviewer(request)


def test_create_api_key_with_scopes_and_a_user(django_user_model, capsys):
    django_user_model.objects.create_user("ana")
    call_command("create_api_key", "ana-laptop", "--scopes", "review,curate", "--user", "ana")
    key = ApiKey.objects.get(name="ana-laptop")
    assert key.scopes == ["review", "curate"] and key.user.username == "ana"
    assert "review, curate, acting for ana" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--scopes", "grade,deploy"], "Unknown scope 'deploy'"), (["--user", "nobody"], "no user 'nobody'")],
)
def test_create_api_key_refuses_unknown_scopes_and_users(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", "bad", *args)
    assert not ApiKey.objects.exists()


def test_scopes_are_shown_and_edited_in_the_admin(admin_client):
    key, _ = api_key_create(name="frontend")
    assert "grade" in admin_client.get("/admin/evaluation/apikey/").content.decode()
    url = f"/admin/evaluation/apikey/{key.pk}/change/"
    response = admin_client.post(url, {"name": "frontend", "scopes": ["grade", "train"], "is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    key.refresh_from_db()
    assert key.scopes == ["grade", "train"]
