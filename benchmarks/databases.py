"""Running a benchmark once per database: a fresh SQLite file and, when the server is reachable, a fresh
PostgreSQL database, each measured in a child process with production settings (DEBUG off)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def postgres_admin(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname=(parts.path.lstrip("/") or "postgres"),
        autocommit=True,
        connect_timeout=3,
    )


def run_child(script: str, argv: list[str], database_url: str, *, env: dict[str, str] | None = None) -> str | None:
    """Run `script --child argv` on `database_url`; its last `RESULT` line, or None when it failed."""
    # With DEBUG on, Django records every query and its SQL text: not what production pays.
    child_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "ready4hire.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "LOG_LEVEL": "ERROR",
        **(env or {}),
    }
    child_env.pop("CELERY_BROKER_URL", None)
    completed = subprocess.run(
        [sys.executable, script, "--child", *argv], env=child_env, cwd=ROOT, capture_output=True, text=True
    )
    sys.stdout.write(completed.stdout)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        return None
    return next((line for line in reversed(completed.stdout.splitlines()) if line.startswith("RESULT ")), None)


def on_each_database(
    measure: Callable[[str], str | None], *, which: str, postgres_url: str, database: str, title: str
) -> list[str | None]:
    """`measure(database_url)` on SQLite and/or PostgreSQL (`which`: sqlite, postgres or all)."""
    results: list[str | None] = []
    if which in ("sqlite", "all"):
        with tempfile.TemporaryDirectory(prefix="r4h-bench-") as workdir:
            print(f"SQLite ({title})", flush=True)
            results.append(measure(f"sqlite:///{Path(workdir) / 'bench.sqlite3'}"))
    if which in ("postgres", "all"):
        try:
            admin = postgres_admin(postgres_url)
        except Exception as exc:  # any driver error: PostgreSQL is not there
            print(f"PostgreSQL skipped: {postgres_url} is not reachable ({exc})", flush=True)
        else:
            with admin:
                admin.execute(f"DROP DATABASE IF EXISTS {database}")
                admin.execute(f"CREATE DATABASE {database}")
                print(f"PostgreSQL ({title})", flush=True)
                try:
                    results.append(measure(urlunsplit(urlsplit(postgres_url)._replace(path=f"/{database}"))))
                finally:
                    admin.execute(f"DROP DATABASE IF EXISTS {database}")
    return results


def children_on_each_database(
    script: str, argv: list[str], args: Any, *, database: str, title: str, env: dict[str, str] | None = None
) -> list[str]:
    """`run_child(script, argv)` on each database the command line names (`args.database`,
    `args.postgres_url`); prints and returns their RESULT lines, and exits when any failed."""
    results = on_each_database(
        lambda url: run_child(script, argv, url, env=env),
        which=args.database,
        postgres_url=args.postgres_url,
        database=database,
        title=title,
    )
    if not results or None in results:
        sys.exit("benchmark failed")
    for line in results:
        print(line)
    return results
