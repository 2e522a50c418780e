"""`make serve` as a test runs it: a real uvicorn with worker processes on a free loopback port, over a SQLite
file the test migrated, talking to a loopback LLM server; its log kept for the test to read."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.evaluation.test_api import GOOD_REQUEST as GRADE_REQUEST  # noqa: F401  (the tests here send it)

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def base_env(folder: Path) -> dict[str, str]:
    """This test's deployment: its own SQLite file and MEDIA_ROOT, eager Celery, no secrets from the caller."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "LLM_", "CELERY_", "API_RATE_", "GRADING_", "LOG_", "METRICS_"))
        and key not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        MEDIA_ROOT=str(folder / "media"),
        PYTHONUNBUFFERED="1",
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    return env


def migrated_database(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=base_env(folder), check=True, timeout=300
    )
    return folder / "db.sqlite3"


def manage(folder: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `manage.py ARGS` against the deployment's database; its standard output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base_env(folder), **(env or {})},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.stdout


def api_key(folder: Path, name: str = "ops", scopes: str = "admin") -> str:
    return manage(folder, "create_api_key", name, "--scopes", scopes).strip().splitlines()[-1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log_path: Path
    folder: Path

    def log_lines(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.strip()]

    def json_log(self) -> list[dict]:
        """The server's log lines after make's echo of its command, each parsed as JSON (fails on one that is not)."""
        lines = self.log_lines()
        return [json.loads(line) for line in lines if not line.startswith("PATH=")]

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to `make serve`, as a process manager sends it; the exit status once everything stopped."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@contextmanager
def running_server(folder: Path, template_db: Path, env: dict[str, str]) -> Iterator[Server]:
    """`make serve` on a free port over a copy of the migrated database, up once /api/v1/health answers."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "db.sqlite3").exists():
        shutil.copy(template_db, folder / "db.sqlite3")
    port = free_port()
    log_path = folder / "server.log"
    full_env = {**base_env(folder), "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"), **env}
    with log_path.open("w") as log:
        # `-o install`: this environment is installed already (the test runs in it); make must not reinstall.
        process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", "install", "serve", f"PORT={port}"],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path, folder=folder)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"make serve exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{server.url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"make serve did not answer:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # make, uvicorn and its workers: their own session
                process.wait()
