"""Rate limits per API key and the grading queue's back-pressure: 429 with Retry-After, nothing stored."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from evaluation.models import ApiKey, Evaluation
from ready4hire import ratelimit
from tests.evaluation.factories import EvaluationFactory

from .server_process import GRADE_REQUEST

pytestmark = pytest.mark.django_db

URL = "/api/v1/evaluations"


@pytest.fixture(params=["database", "redis"])
def limiter_storage(request, settings):
    """Each test runs against both shared stores: the database, and Redis when it is there (db 9)."""
    if request.param == "redis":
        import redis

        url = "redis://127.0.0.1:6379/9"
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
        except redis.RedisError as exc:
            pytest.skip(f"needs Redis at {url}: {exc}")
        settings.API_RATE_LIMIT_STORAGE = url
    else:
        settings.API_RATE_LIMIT_STORAGE = ""
    ratelimit._limiter.cache_clear()
    yield request.param
    ratelimit._limiter.cache_clear()


def post(client, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(
        f"{URL}?{query}" if query else URL, data=json.dumps(GRADE_REQUEST), content_type="application/json"
    )


def assert_throttled(response) -> int:
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and response.json()["detail"]
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after
    return retry_after


def test_a_key_past_its_rate_gets_429_and_nothing_is_stored(api_client, settings, limiter_storage):
    settings.API_RATE_LIMIT = "2/m"
    assert post(api_client).status_code == 200
    assert api_client.get(URL).status_code == 200

    assert assert_throttled(post(api_client)) <= 60
    assert Evaluation.objects.count() == 1
    assert_throttled(api_client.get(URL))


def test_a_keys_own_rate_limit_overrides_the_setting(api_client, client, settings, limiter_storage):
    from evaluation.services import api_key_create

    settings.API_RATE_LIMIT = "1/m"
    ApiKey.objects.filter(name="tests").update(rate_limit="3/minute")
    for _ in range(3):
        assert api_client.get(URL).status_code == 200
    assert_throttled(api_client.get(URL))

    _, other = api_key_create(name="other", scopes=["grade"])  # its own window, at the setting's rate
    assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 200
    assert_throttled(client.get(URL, HTTP_AUTHORIZATION=f"Bearer {other}"))


def test_without_a_rate_keys_are_not_limited_and_health_never_is(api_client, client, settings, limiter_storage):
    settings.API_RATE_LIMIT = ""
    for _ in range(5):
        assert api_client.get(URL).status_code == 200
    settings.API_RATE_LIMIT = "1/m"
    for _ in range(3):
        assert client.get("/api/v1/health").status_code == 200


def test_queued_grading_is_refused_past_the_backlog_limit(api_client, settings):
    settings.GRADING_MAX_PENDING = 2
    EvaluationFactory.create_batch(3, status=Evaluation.Status.PENDING)

    refused = post(api_client, wait="false")

    assert 1 <= assert_throttled(refused) <= 300
    assert "3 grades are waiting" in refused.json()["detail"]
    assert Evaluation.objects.count() == 3
    assert post(api_client).status_code == 200  # a grade the caller waits for is not queued: it goes on


def test_queued_grading_is_accepted_up_to_the_limit(api_client, settings):
    settings.GRADING_MAX_PENDING = 3
    EvaluationFactory.create_batch(3, status=Evaluation.Status.PENDING)
    assert post(api_client, wait="false").status_code == 202


@pytest.mark.parametrize("rate", ["120/m", "10/s;1000/h", "5 per second", "100/hour"])
def test_rates_operators_write_are_accepted(rate):
    ApiKey(name="k", key_prefix="r4h_", key_hash="x", rate_limit=rate).full_clean()
    assert ratelimit.rate_limits_parse(rate)


@pytest.mark.parametrize("rate", ["fast", "10", "/m", "10/fortnight"])
def test_a_rate_that_is_not_one_is_refused(rate):
    with pytest.raises(ValidationError) as error:
        ApiKey(name="k", key_prefix="r4h_", key_hash="x", rate_limit=rate).full_clean()
    assert "rate_limit" in error.value.message_dict


def test_the_openapi_document_declares_429_with_retry_after(client):
    schema = client.get("/api/v1/openapi.json").json()
    created = schema["paths"]["/api/v1/evaluations"]["post"]["responses"]["429"]
    assert "Retry-After" in created["headers"] and "GRADING_MAX_PENDING" in created["description"]
    assert "429" not in schema["paths"]["/api/v1/health"]["get"]["responses"]


@pytest.mark.postgres
def test_concurrent_requests_never_pass_more_than_the_rate_in_the_database(transactional_db, postgres, settings):
    """Processes hitting the same key at once: the row lock lets exactly the rate through, none lost."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from evaluation.services import api_key_create

    settings.API_RATE_LIMIT, settings.API_RATE_LIMIT_STORAGE = "20/m", ""
    ratelimit._limiter.cache_clear()
    key, _ = api_key_create(name="busy")

    def hit(_: int) -> bool:
        try:
            ratelimit.api_key_throttle(api_key=key)
            return True
        except ratelimit.Throttled:
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = sum(pool.map(hit, range(40)))
    assert allowed == 20
