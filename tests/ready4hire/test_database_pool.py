"""DATABASE_POOL=1: PostgreSQL connections come from psycopg's pool, a closed one goes back to it (the next
query runs on the same server process, no new login), and a setting that cannot work is refused at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"  # benchmarks/databases.py's too

# Two queries with a close between them, as evaluation/async_grading.py closes after each database step.
SCRIPT = """
from django.db import connection
def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
first = backend_pid()
connection.close()
print(first == backend_pid(), connection.pool is not None)
"""


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_DEBUG": "true", **env},
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def postgres_url() -> str:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=2).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"needs PostgreSQL at {POSTGRES_URL}: {exc}")
    return POSTGRES_URL


def test_a_closed_connection_goes_back_to_the_pool(postgres_url):
    # A pool of one: the connection handed back is the one the next query gets.
    one = {"DATABASE_POOL": "1", "DATABASE_POOL_MIN_SIZE": "1", "DATABASE_POOL_MAX_SIZE": "1"}
    pooled = manage({"DATABASE_URL": postgres_url, **one}, "shell", "-c", SCRIPT)
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.split()[-2:] == ["True", "True"]
    unpooled = manage({"DATABASE_URL": postgres_url}, "shell", "-c", SCRIPT)
    assert unpooled.returncode == 0, unpooled.stderr
    assert unpooled.stdout.split()[-2:] == ["False", "False"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "sqlite:///pool.sqlite3"}, "needs a PostgreSQL DATABASE_URL"),
        ({"DATABASE_URL": POSTGRES_URL, "DATABASE_CONN_MAX_AGE": "60"}, "leave DATABASE_CONN_MAX_AGE at 0"),
        ({"DATABASE_URL": POSTGRES_URL, "DATABASE_POOL_MIN_SIZE": "8", "DATABASE_POOL_MAX_SIZE": "4"}, "MAX_SIZE"),
        ({"DATABASE_URL": POSTGRES_URL, "DATABASE_POOL_MAX_SIZE": "0"}, "MAX_SIZE"),
    ],
)
def test_a_pool_setting_that_cannot_work_is_refused_at_start(env, message):
    result = manage({**env, "DATABASE_POOL": "1"}, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
