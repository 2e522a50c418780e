"""Start and stop (or kill) a real Celery worker process for a test, against the test database and Redis, wait
for the job it was handed to finish, and point this process's Celery at another broker (one that is down)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

from ready4hire.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """DATABASE_URL of the database this test run created (pytest-django's test_* copy)."""
    original = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(original._replace(path="/" + connection.settings_dict["NAME"]))


@contextmanager
def running_worker(
    *, extra_env: dict[str, str], queues: str | None = "evaluation", timeout: float = 60.0, purge: bool = True
) -> Iterator[subprocess.Popen]:
    """A worker on `queues` (None: every queue, as `celery worker` without -Q serves them); yields its process,
    which a test may kill (`process.kill()`, SIGKILL) to see what a crash leaves. `purge` empties the queues
    first; a worker started after a crash keeps them, as a restarted worker would."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    if purge:
        celery_app.control.purge()
    log_path = ROOT / ".pytest_cache" / "celery-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("a" if not purge else "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ready4hire",
                "worker",
                *(["-Q", queues] if queues else []),
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"tests-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while not celery_app.control.ping(timeout=0.5):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Celery worker did not start; its log:\n{log_path.read_text()[-3000:]}")
            yield process
        finally:
            process.terminate()  # nothing to do when the test killed it
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def job_wait(client: Any, url: str, *, timeout: float = 30.0) -> dict[str, Any]:
    """GET `url` (a job's detail over the API) until the job is done or failed, or `timeout` passes: the last body."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url).json()
        if body["status"] in ("done", "failed") or time.monotonic() >= deadline:
            return body
        time.sleep(0.2)


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Publish from this process to the broker at `url` (e.g. a closed port: a broker that is down), then
    back to the configured one. Celery caches its connections and producers, so both are dropped."""

    def use(broker_url: str | None) -> None:
        # The write URL: the CELERY_BROKER_URL environment variable would win over `broker_url`.
        celery_app.conf.broker_write_url = broker_url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    use(url)
    try:
        yield
    finally:
        use(None)
