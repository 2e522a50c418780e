"""API requests skip the middlewares only the admin needs (locale, CSRF, messages; X-Frame-Options set inline),
and the admin keeps all of them: its CSRF refusal, its Spanish, its headers. Each under WSGI (Client) and ASGI
(AsyncClient, the path `make serve` takes), since the wrappers run differently in each."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core import checks
from django.test import AsyncClient, Client

from ready4hire.middleware import check_site_middleware

pytestmark = pytest.mark.django_db

ADMIN_PASSWORD = "pw-123456789"


class Caller:
    """The sync or the async test client behind one call signature."""

    def __init__(self, kind: str, **options) -> None:
        self.kind = kind
        self.client = Client(**options) if kind == "wsgi" else AsyncClient(**options)

    def __call__(self, method: str, path: str, data=None, **headers: str):
        call = getattr(self.client, method)
        if self.kind == "asgi":
            call = async_to_sync(call)
        return call(path, data, headers=headers) if data is not None else call(path, headers=headers)


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request) -> str:
    return request.param


def test_the_admin_login_refuses_a_post_without_the_csrf_token(kind, django_user_model):
    django_user_model.objects.create_superuser("sam", password=ADMIN_PASSWORD)
    call = Caller(kind, enforce_csrf_checks=True)
    refused = call("post", "/admin/login/", {"username": "sam", "password": ADMIN_PASSWORD})
    assert refused.status_code == 403 and b"CSRF" in refused.content
    form = call("get", "/admin/login/")
    token = form.cookies["csrftoken"].value
    call.client.cookies["csrftoken"] = token
    accepted = call(
        "post",
        "/admin/login/?next=/admin/",
        {"username": "sam", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert accepted.status_code == 302 and accepted["Location"] == "/admin/"


def test_the_language_switch_refuses_a_post_without_the_csrf_token(kind):
    """The admin's views protect themselves too; this one is Django's set_language, guarded by the middleware only."""
    call = Caller(kind, enforce_csrf_checks=True)
    refused = call("post", "/i18n/setlang/", {"language": "es", "next": "/admin/"})
    assert refused.status_code == 403 and "django_language" not in refused.cookies
    token = call("get", "/admin/login/").cookies["csrftoken"].value
    call.client.cookies["csrftoken"] = token
    switched = call("post", "/i18n/setlang/", {"language": "es", "next": "/admin/", "csrfmiddlewaretoken": token})
    assert switched.status_code == 302 and switched.cookies["django_language"].value == "es"


def test_the_admin_speaks_spanish_to_a_spanish_browser(kind):
    response = Caller(kind)("get", "/admin/login/", **{"Accept-Language": "es"})
    assert response.status_code == 200 and response["Content-Language"] == "es"
    assert "Iniciar sesión" in response.content.decode()
    english = Caller(kind)("get", "/admin/login/", **{"Accept-Language": "en"})
    assert "Log in" in english.content.decode() and "Iniciar sesión" not in english.content.decode()


@pytest.mark.parametrize("path", ["/admin/login/", "/api/v1/health"])
def test_admin_and_api_responses_carry_the_security_headers_and_the_request_id(kind, path):
    response = Caller(kind)("get", path, **{"X-Request-ID": "trace-7"})
    assert response["X-Request-ID"] == "trace-7"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_an_api_answer_does_not_depend_on_the_callers_language(kind, api_key):
    spanish = Caller(kind)(
        "get", "/api/v1/evaluations/999999", Authorization=f"Bearer {api_key}", **{"Accept-Language": "es"}
    )
    english = Caller(kind)("get", "/api/v1/evaluations/999999", Authorization=f"Bearer {api_key}")
    assert spanish.status_code == english.status_code == 404
    assert spanish.json()["detail"] == english.json()["detail"]
    assert "Content-Language" not in spanish


def test_a_staff_session_writing_through_the_api_under_asgi_still_needs_the_csrf_token(django_user_model):
    staff = django_user_model.objects.create_superuser("sam", password=ADMIN_PASSWORD)
    client = AsyncClient(enforce_csrf_checks=True)
    async_to_sync(client.aforce_login)(staff)
    body = {"enabled": False, "min_score_threshold": 3, "sources": ["llm"]}
    put = async_to_sync(client.put)
    refused = put("/api/v1/training/collection", body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    token = async_to_sync(client.get)("/admin/").cookies["csrftoken"].value
    client.cookies["csrftoken"] = token
    accepted = put("/api/v1/training/collection", body, content_type="application/json", headers={"X-CSRFToken": token})
    assert accepted.status_code == 200 and accepted.json()["enabled"] is False


SITE = [
    "ready4hire.middleware.SiteCsrfViewMiddleware",
    "ready4hire.middleware.SiteXFrameOptionsMiddleware",
]


def ids(found: list[checks.CheckMessage]) -> set[str]:
    return {message.id for message in found}


def test_the_deploy_check_counts_the_wrappers_as_the_middlewares_they_wrap(settings):
    settings.MIDDLEWARE = SITE
    settings.CSRF_COOKIE_SECURE = True
    assert check_site_middleware() == []
    settings.MIDDLEWARE = [SITE[1]]
    assert ids(check_site_middleware()) == {"ready4hire.W003"}
    settings.MIDDLEWARE = [SITE[0]]
    assert ids(check_site_middleware()) == {"ready4hire.W002"}
    settings.MIDDLEWARE = SITE
    settings.CSRF_COOKIE_SECURE = False
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    assert ids(check_site_middleware()) == {"security.W016", "security.W019"}
    # Django's own classes by their own paths: Django's checks answer, this one stays quiet.
    settings.MIDDLEWARE = [
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]
    assert check_site_middleware() == []


def test_the_deploy_check_is_registered():
    assert check_site_middleware in checks.registry.registry.get_checks(include_deployment_checks=True)
