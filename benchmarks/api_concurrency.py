"""Many API clients waiting on a slow LLM at once, under the production server (`make serve`'s uvicorn).

Used by benchmarks/grading.py (`--clients 64 256`). C clients each post `rounds` distinct answers one after
the other and wait for each grade; the loopback LLM answers after `latency` with C slots, so the most any
server could give is C / latency grades a second (limit_rps). A server holding a thread per waiting
client would queue them behind its thread pool; the async path keeps every one of them waiting at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.grading import BODY
from benchmarks.llm_throughput import SlottedOllamaServer, result_line

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return run.stdout


async def _load(base_url: str, key: str, *, clients: int, rounds: int) -> tuple[int, int, float]:
    """(grades received, requests that failed in transport, seconds from the first send to the last answer)"""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as http:

        async def client(number: int) -> tuple[int, int]:
            done = failed = 0
            for turn in range(rounds):
                body = {**BODY, "answer": f"{BODY['answer']} (client {number}, turn {turn})"}
                try:
                    response = await http.post(
                        "/api/v1/evaluations", content=json.dumps(body), headers={"Authorization": f"Bearer {key}"}
                    )
                except httpx.TransportError:
                    failed += 1  # counted, not fatal: the figure says how many never got an answer
                    continue
                response.raise_for_status()
                assert response.json()["source"] == "llm", response.text[:300]
                done += 1
            return done, failed

        started = time.perf_counter()
        counts = await asyncio.gather(*(client(n) for n in range(clients)))
        seconds = time.perf_counter() - started
        return sum(done for done, _ in counts), sum(failed for _, failed in counts), seconds


def api_run(*, clients: int, latency_ms: int, rounds: int) -> float:
    """Run the API concurrency scenario once; print its RESULT line and return the ratio."""
    latency = latency_ms / 1000
    llm = SlottedOllamaServer(latency=latency, slots=clients).start()
    workdir = Path(tempfile.mkdtemp(prefix="r4h-api-bench-"))
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ready4hire.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'api.sqlite3'}",
        "LLM_BACKEND": "ollama",
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": "llama3.2:3b",
        "LLM_TIMEOUT": "60",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "ERROR"),
        "API_RATE_LIMIT": "",
        # `make serve`'s default of one uvicorn worker (WEB_CONCURRENCY): several processes writing one SQLite
        # file would wait on its lock, which is what PostgreSQL is for.
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "1"),
    }
    env.pop("CELERY_BROKER_URL", None)
    _manage(env, "migrate", "--verbosity", "0")
    key = _manage(env, "create_api_key", "api-bench").strip().splitlines()[-1]
    # `make serve`'s command, on a free port.
    server = subprocess.Popen(
        [str(BIN / "uvicorn"), "ready4hire.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
        + ["--no-access-log", "--log-level", os.environ.get("BENCH_UVICORN_LOG", "warning")],
        cwd=ROOT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base_url}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(_load(base_url, key, clients=2, rounds=1))  # warm-up: imports, first connections
        graded, failed, seconds = asyncio.run(_load(base_url, key, clients=clients, rounds=rounds))
    finally:
        server.terminate()
        server.wait(timeout=30)
        llm.stop()
    rps, limit_rps = graded / seconds, clients / latency
    workers = env["WEB_CONCURRENCY"]
    print(f"api: {clients} clients × {rounds} grades, LLM {latency_ms} ms with {clients} slots, {workers} workers:")
    print(f"     {graded} grades in {seconds:.2f} s; {failed} requests got no answer")
    print(
        result_line(
            "api",
            clients=clients,
            latency_ms=latency_ms,
            workers=workers,
            failed=failed,
            rps=f"{rps:.1f}",
            limit_rps=f"{limit_rps:.1f}",
            ratio=f"{rps / limit_rps:.3f}",
        )
    )
    return rps / limit_rps
