"""The per-process cache of the lookups every grade makes (ready4hire.lookups): the API key, the router's active
version and the active calibration are read once per few seconds, yet a key revoked, a version promoted or a
calibration switched off takes effect at once in the process that did it, and within the cache's seconds in
the others.

These tests commit (`transaction=True`): inside a transaction a lookup always reads the database, so the
cache is only in play outside one, as on a production server."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.test import AsyncClient

from evaluation.models import ApiKey
from evaluation.services import api_key_create
from ready4hire import lookups
from tests.llm_servers import FakeOllamaServer
from training.models import Calibration
from training.selectors import model_for_category
from training.services import model_version_promote, model_version_register
from training.services.calibration import calibration_apply, calibration_deactivate

from .test_api import GOOD_REQUEST, URL

pytestmark = pytest.mark.django_db(transaction=True)

DEFAULT = "llama3.2:3b"


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The cache's clock, moved by hand: `clock.now += seconds`."""

    class Clock:
        now = 1000.0

    monkeypatch.setattr(lookups, "_now", lambda: Clock.now)
    lookups.lookups_clear()
    yield Clock
    lookups.lookups_clear()


@pytest.fixture
def ollama(settings):
    with FakeOllamaServer(models=(DEFAULT, "r4h-tech:v1")) as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_MODEL = DEFAULT
        settings.LLM_RETRY_BACKOFF = 0
        yield server


def grade(raw_key: str, answer: str = "") -> int:
    """POST a grade through the ASGI path, as under `make serve`; the status code."""
    body = {**GOOD_REQUEST, "answer": GOOD_REQUEST["answer"] + answer}
    response = async_to_sync(AsyncClient().post)(
        URL, data=json.dumps(body), content_type="application/json", headers={"Authorization": f"Bearer {raw_key}"}
    )
    return response.status_code


def test_a_key_revoked_here_is_refused_at_once_though_it_was_cached(ollama):
    key, raw_key = api_key_create(name="program")
    assert grade(raw_key, " (1)") == 200
    key.is_active = False
    key.save(update_fields=["is_active"])  # the admin's change form
    assert grade(raw_key, " (2)") == 401


def test_a_key_whose_user_is_deactivated_or_that_is_deleted_is_refused_at_once(ollama, django_user_model):
    user = django_user_model.objects.create_user("reviewer", password="pw-123456789")
    key, raw_key = api_key_create(name="person", username="reviewer")
    assert grade(raw_key, " (1)") == 200
    user.is_active = False
    user.save()
    assert grade(raw_key, " (2)") == 401

    other, other_raw = api_key_create(name="other")
    assert grade(other_raw, " (3)") == 200
    other.delete()
    assert grade(other_raw, " (4)") == 401


def test_a_key_revoked_by_another_process_is_refused_once_the_cache_expires(ollama, clock):
    _, raw_key = api_key_create(name="program")
    assert grade(raw_key, " (1)") == 200
    ApiKey.objects.update(is_active=False)  # no signal reaches this process: as if another one revoked it
    assert grade(raw_key, " (2)") == 200  # still cached here
    clock.now += lookups.LOOKUP_CACHE_SECONDS + 0.1
    assert grade(raw_key, " (3)") == 401


def test_an_unknown_key_is_not_remembered_so_a_key_created_elsewhere_works_at_once(ollama):
    raw_key = ApiKey.generate_raw_key()
    assert grade(raw_key) == 401
    ApiKey.objects.create(name="made elsewhere", key_prefix=raw_key[:10], key_hash=ApiKey.hash_key(raw_key))
    assert grade(raw_key) == 200


def test_the_router_sees_a_promotion_at_once(ollama):
    assert model_for_category("technical") is None  # now cached: no active version
    model_version_promote(version=model_version_register(served_name="r4h-tech:v1"), category="technical")
    assert model_for_category("technical") == "r4h-tech:v1"

    _, raw_key = api_key_create(name="program")
    assert grade(raw_key) == 200
    assert [request.body["model"] for request in ollama.chat_requests] == ["r4h-tech:v1"]


def test_a_lookup_inside_a_transaction_reads_that_transactions_writes(ollama):
    assert model_for_category("technical") is None
    with transaction.atomic():
        version = model_version_register(served_name="r4h-tech:v1")
        # A bulk update sends no signal: only reading the database sees it.
        type(version).objects.filter(pk=version.pk).update(status="active", category="technical")
        assert model_for_category("technical") == "r4h-tech:v1"


def test_a_calibration_switched_off_stops_applying_at_once():
    calibration = Calibration.objects.create(
        grader=DEFAULT, category="", version=1, examples=30, knots=[[0, 0], [10, 5]], active=True
    )
    result = {"score": 8.0, "breakdown": {"accuracy": 3.0, "depth": 2.0, "clarity": 2.0, "relevance": 1.0}}
    assert calibration_apply(grader=DEFAULT, category="technical", result=result)[1] == calibration
    calibration_deactivate(calibration=calibration)
    assert calibration_apply(grader=DEFAULT, category="technical", result=result) == (result, None)
