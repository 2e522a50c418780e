"""`make serve` as an operator runs it: uvicorn with two worker processes answers health, sums its metrics over
both, writes JSON logs carrying the request id (into the Celery worker's lines too), and stops on SIGTERM
only after the request in flight has been answered."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from evaluation.llm.heuristic import HEURISTIC_MODEL_NAME
from tests.llm_servers import DEFAULT_MODEL, FakeOllamaServer

from .server_process import (
    GRADE_REQUEST,
    ROOT,
    api_key,
    base_env,
    free_port,
    manage,
    migrated_database,
    running_server,
)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    return migrated_database(tmp_path_factory.mktemp("template"))


@pytest.fixture
def ollama() -> FakeOllamaServer:
    with FakeOllamaServer(slow_seconds=3) as server:
        yield server


def llm_env(ollama: FakeOllamaServer, **more: str) -> dict[str, str]:
    return {
        "LLM_BACKEND": "ollama",
        "LLM_BASE_URL": ollama.base_url,
        "LLM_MODEL": DEFAULT_MODEL,
        "LLM_MAX_RETRIES": "0",
        "WEB_CONCURRENCY": "2",
        **more,
    }


def grade(server, key: str, answer: str | None = None, **headers: str) -> httpx.Response:
    body = {**GRADE_REQUEST, **({"answer": answer} if answer else {})}
    # A new connection for each request, so the kernel spreads them over both worker processes.
    return httpx.post(
        f"{server.url}/api/v1/evaluations",
        json=body,
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=60,
    )


def scrape(server) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_make_serve_answers_health_and_finishes_the_request_in_flight_on_sigterm(tmp_path, template_db, ollama):
    with running_server(tmp_path, template_db, llm_env(ollama)) as server:
        key = api_key(tmp_path)
        health = httpx.get(f"{server.url}/api/v1/health", timeout=10)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ollama.script("slow")  # the LLM takes 3 s: the request is still waiting when SIGTERM comes
        answered: list[httpx.Response] = []
        waiting = threading.Thread(target=lambda: answered.append(grade(server, key)))
        waiting.start()
        deadline = time.monotonic() + 30
        while not ollama.chat_requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ollama.chat_requests, "the grade never reached the LLM server"

        status = server.stop()
        waiting.join(timeout=60)

        assert answered and answered[0].status_code == 200, server.log_path.read_text()[-2000:]
        assert answered[0].json()["source"] == "llm"
        # make passes SIGTERM on to uvicorn, waits for it, then ends by the same signal.
        assert status in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
        log = server.log_path.read_text()
        assert log.count("Finished server process") == 2 and "Stopping parent process" in log
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/api/v1/health", timeout=2)


REVIEW_SCRIPT = """
from django.contrib.auth import get_user_model
from training.models import TrainingExample
from training.selectors.calibration import agreement_qwk_by_grader
from training.services import example_approve, example_correct
user = get_user_model().objects.create_user("ana", is_staff=True)
first, second = TrainingExample.objects.order_by("pk")
example_approve(example_id=first.pk, reviewer=user)
example_correct(example_id=second.pk, reviewer=user, score=2.0, note="Too kind.")
print(json.dumps(agreement_qwk_by_grader(last=200)))
"""


def test_metrics_count_every_grade_over_both_worker_processes(tmp_path, template_db, ollama):
    with running_server(tmp_path, template_db, llm_env(ollama)) as server:
        key = api_key(tmp_path)
        assert grade(server, key).json()["source"] == "llm"  # LLM, cache miss
        assert grade(server, key).json()["from_cache"] is True  # the same request: cache hit
        ollama.script("invalid_json")  # re-asked, then valid
        assert grade(server, key, GRADE_REQUEST["answer"] + " Also asyncio.").json()["source"] == "llm"
        ollama.script("error_500")  # no retries configured: the heuristic grades it
        assert grade(server, key, "The GIL is a lock.").json()["source"] == "heuristic"
        ollama.script("schema_invalid", "schema_invalid")
        assert grade(server, key, "Threads and the GIL.").json()["source"] == "heuristic"
        qwk = json.loads(manage(tmp_path, "shell", "-c", "import json\n" + REVIEW_SCRIPT).strip().splitlines()[-1])

        metrics = scrape(server)

    def value(name: str, **labels: str) -> float:
        return metrics[(name, frozenset(labels.items()))]

    category = GRADE_REQUEST["category"]
    assert value("r4h_grading_seconds_count", source="llm", model=DEFAULT_MODEL, category=category) == 2
    assert value("r4h_grading_seconds_count", source="cache", model=DEFAULT_MODEL, category=category) == 1
    assert value("r4h_grading_seconds_count", source="heuristic", model=HEURISTIC_MODEL_NAME, category=category) == 2
    assert value("r4h_grading_cache_hits_total") == 1
    assert value("r4h_grading_cache_misses_total") == 4
    assert value("r4h_llm_errors_total", kind="invalid_json") == 1
    assert value("r4h_llm_errors_total", kind="http_5xx") == 1
    assert value("r4h_llm_errors_total", kind="schema_invalid") == 2
    assert value("r4h_llm_errors_total", kind="timeout") == 0
    assert value("r4h_jobs", kind="evaluation", status="pending") == 0
    assert value("r4h_jobs", kind="finetune", status="failed") == 0
    assert value("r4h_reviews_total", action="approve") == 1
    assert value("r4h_reviews_total", action="correct") == 1
    assert value("r4h_examples", review_status="approved") == 2
    assert value("r4h_examples", review_status="pending") == 0
    if qwk.get(DEFAULT_MODEL) is not None:
        assert value("r4h_agreement_qwk", model=DEFAULT_MODEL) == pytest.approx(qwk[DEFAULT_MODEL])
    # Both processes wrote their own values (prometheus_client's multiprocess files, one set per process).
    assert len({path.name.rsplit("_", 1)[-1] for path in (tmp_path / "prometheus").glob("counter_*.db")}) >= 2


def test_metrics_ask_for_the_token_when_one_is_set(tmp_path, template_db, ollama):
    with running_server(tmp_path, template_db, llm_env(ollama, METRICS_TOKEN="s3cret")) as server:
        refused = httpx.get(f"{server.url}/metrics", timeout=10)
        allowed = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer s3cret"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    assert allowed.status_code == 200 and "r4h_grading_cache_hits_total" in allowed.text


def test_json_logs_parse_line_by_line_and_carry_the_request_id(tmp_path, template_db, ollama):
    env = llm_env(ollama, LOG_FORMAT="json", LOG_LEVEL="INFO")
    with running_server(tmp_path, template_db, env) as server:
        key = api_key(tmp_path)
        given = grade(server, key, **{"X-Request-ID": "interview-42"})
        generated = grade(server, key, "The GIL is a mutex; threads help with I/O.")
        server.stop()
        entries = server.json_log()  # fails on any line that is not a JSON object

    assert given.headers["X-Request-ID"] == "interview-42"
    grades = [entry for entry in entries if entry["logger"] == "ready4hire.grading"]
    by_request = {entry["request_id"]: entry for entry in grades}
    first = by_request["interview-42"]
    assert first["evaluation_id"] == given.json()["id"] and first["model"] == DEFAULT_MODEL
    assert first["source"] == "llm" and first["cache_hit"] is False and first["latency_ms"] >= 0
    assert {"timestamp", "level", "message"} <= first.keys() and first["level"] == "INFO"
    assert by_request[generated.headers["X-Request-ID"]]["evaluation_id"] == generated.json()["id"]
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)  # the server's own lines too


def test_a_queued_grade_logs_in_the_worker_under_its_request_id(tmp_path, template_db, ollama):
    import redis

    broker = "redis://127.0.0.1:6379/9"
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=2).flushdb()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis at {broker}: {exc}")
    env = llm_env(ollama, LOG_FORMAT="json", LOG_LEVEL="INFO", CELERY_BROKER_URL=broker)
    worker_log, metrics_port = tmp_path / "worker.log", free_port()
    worker_env = {"WORKER_METRICS_PORT": str(metrics_port), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "worker-prom")}
    with running_server(tmp_path, template_db, env) as server, worker_log.open("w") as log:
        key = api_key(tmp_path)
        worker = subprocess.Popen(
            # As compose.yaml runs it (--quiet: no banner on stdout), on this test's own queue set-up.
            [sys.executable, "-m", "celery", "-A", "ready4hire", "--quiet", "worker", "-Q", "evaluation"]
            + ["--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
            + ["--hostname", f"ops-{time.time()}@%h"],
            cwd=ROOT,
            # Tests may run as root, and Celery warns about it on stderr before any logging is set up.
            env={**base_env(tmp_path), **env, **worker_env, "PYTHONWARNINGS": "ignore"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            accepted = httpx.post(
                f"{server.url}/api/v1/evaluations?wait=false",
                json=GRADE_REQUEST,
                headers={"Authorization": f"Bearer {key}", "X-Request-ID": "queued-7"},
                timeout=30,
            )
            assert accepted.status_code == 202
            detail_url = f"{server.url}/api/v1/evaluations/{accepted.json()['id']}"
            deadline = time.monotonic() + 60
            while httpx.get(detail_url, headers={"Authorization": f"Bearer {key}"}).json()["status"] != "done":
                assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
                time.sleep(0.2)
            worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)

    lines = [line for line in worker_log.read_text().splitlines() if line.strip()]
    # Celery prints its "worker: Warm shutdown" notice itself, from the signal handler, outside logging.
    entries = [json.loads(line) for line in lines if not line.startswith("worker: ")]
    in_task = [entry for entry in entries if entry.get("task_id")]
    assert in_task and all(entry["request_id"] == "queued-7" for entry in in_task)
    graded = [entry for entry in in_task if entry["logger"] == "ready4hire.grading"]
    assert graded and graded[0]["evaluation_id"] == accepted.json()["id"]
    # The worker's own metrics port counts the grade it made.
    assert (
        f'r4h_grading_seconds_count{{category="technical",model="{DEFAULT_MODEL}",source="llm"}} 1.0' in worker_metrics
    )


def test_the_rate_limit_is_shared_by_both_worker_processes(tmp_path, template_db, ollama):
    with running_server(tmp_path, template_db, llm_env(ollama, API_RATE_LIMIT="3/m")) as server:
        key = api_key(tmp_path)
        # A new connection for each request: they land on either process, and the count is one.
        answers = [
            httpx.get(f"{server.url}/api/v1/evaluations", headers={"Authorization": f"Bearer {key}"}, timeout=10)
            for _ in range(6)
        ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429, 429]
    assert all(1 <= int(answer.headers["Retry-After"]) <= 60 for answer in answers[3:])
