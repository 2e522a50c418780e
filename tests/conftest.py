"""Shared fixtures: real services where production has them, skipped with a reason when absent.

`R4H_REQUIRE_SERVICES=1` (set by .ci/run) turns every such skip into a failure, so CI cannot pass by
skipping the tests that talk to PostgreSQL, Redis or a Celery worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ready4hire.celery import app as celery_app
from tests.llm_servers import FakeOllamaServer, FakeOpenAIServer

REQUIRE_SERVICES = os.environ.get("R4H_REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    """Skip the calling test, or fail it when services are mandatory (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tests run Celery tasks in-process unless they ask for a real worker (`celery_worker_factory`)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _one_llm_call_at_a_time(settings):
    """A fake server hands scripted modes (`server.script(...)`) out in arrival order, which concurrent calls
    would shuffle: tests grade one call at a time unless they ask for concurrency (tests/evaluation/test_batch.py)."""
    settings.LLM_CONCURRENCY = 1


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """MEDIA_ROOT in this test's own folder (not created: the services make what they write), so exports,
    Modelfiles and fine-tune runs never touch the project's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def api_key(db) -> str:
    from evaluation.services import api_key_create

    # Every scope: tests of one area use this key; tests/test_scopes.py checks what narrower keys may do.
    _, raw_key = api_key_create(name="tests", scopes=["admin"])
    return raw_key


@pytest.fixture
def api_client(client, api_key):
    """Django's test client with a valid API key on every request."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return client


@pytest.fixture
def ollama_server() -> Iterator[FakeOllamaServer]:
    """A started Ollama-protocol server on loopback; `server.script(...)` sets what the next chats get."""
    with FakeOllamaServer() as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A started OpenAI-compatible server on loopback; `server.script(...)` sets what the next chats get."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def postgres() -> None:
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        service_missing("needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test")


@pytest.fixture
def redis_broker() -> str:
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        service_missing("needs Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/15")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url} is not reachable: {exc}")
    return url


@pytest.fixture
def celery_worker_factory(transactional_db, postgres, redis_broker):
    """`with celery_worker_factory(extra_env={...}):` runs a real worker; tasks leave this process."""
    from .celery_worker import running_worker

    celery_app.conf.task_always_eager = False
    return running_worker
