"""Grading throughput through the full API path, next to a bare django-ninja endpoint in the same run.

    .venv/bin/python benchmarks/grading.py [--requests N]

Runs in-process with Django's test client (middleware, API-key auth, validation, service, database), on a
fresh SQLite file, against a loopback Ollama-protocol server that answers instantly:
- miss: every request is new, so each one reaches the LLM server, is parsed, stored (and collected);
- hit:  the same request again, answered from the grade cache;
- bare: a django-ninja endpoint that validates the same input schema and returns it, touching nothing.
The last line is `RESULT grading hit_rps=… miss_rps=… bare_rps=… hit_ratio=… miss_ratio=…` (ratios to bare).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario (default 300)")
    args = parser.parse_args()

    from tests.llm_servers import FakeOllamaServer

    workdir = Path(tempfile.mkdtemp(prefix="r4h-bench-"))
    server = FakeOllamaServer().start()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "ready4hire.settings",
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "LLM_BACKEND": "ollama",
            "LLM_BASE_URL": server.base_url,
            "LLM_MODEL": "llama3.2:3b",
            "LOG_LEVEL": "ERROR",
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.urls import path
    from ninja import NinjaAPI

    from evaluation.schemas import EvaluationIn
    from evaluation.services import api_key_create
    from ready4hire.urls import urlpatterns

    bare_api = NinjaAPI(urls_namespace="bare")

    @bare_api.post("/bare")
    def bare(request, payload: EvaluationIn):
        return {"id": 0, "status": "done", "question": payload.question}

    bench_urls = ModuleType("bench_urls")
    bench_urls.urlpatterns = [*urlpatterns, path("bare/", bare_api.urls)]
    sys.modules["bench_urls"] = bench_urls
    settings.ROOT_URLCONF = "bench_urls"
    call_command("migrate", verbosity=0)
    _, raw_key = api_key_create(name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    body = {
        "question": "What is the GIL in Python and how does it affect concurrency?",
        "answer": "The GIL lets one thread run bytecode at a time; use multiprocessing for CPU-bound work.",
        "expected_concepts": ["GIL", "threads", "multiprocessing"],
        "keywords": ["CPython"],
        "category": "technical",
        "difficulty": "mid",
        "role": "Backend Developer",
        "language": "en",
    }

    def rate(url: str, bodies) -> float:
        started = time.perf_counter()
        count = 0
        for payload in bodies:
            response = client.post(url, data=json.dumps(payload), content_type="application/json")
            assert response.status_code == 200, response.content[:300]
            count += 1
        return count / (time.perf_counter() - started)

    n = args.requests
    rate("/bare/bare", [body] * 20)  # warm-up: imports, first connections
    rate("/api/v1/evaluations", [body] * 2)
    bare_rps = rate("/bare/bare", [body] * n)
    hit_rps = rate("/api/v1/evaluations", [body] * n)
    miss_rps = rate("/api/v1/evaluations", ({**body, "answer": f"{body['answer']} ({i})"} for i in range(n)))
    llm_calls = len(server.chat_requests)
    server.stop()

    print(f"requests per scenario: {n}; LLM calls made: {llm_calls} (expected {n + 1})")
    print(f"bare django-ninja endpoint : {bare_rps:8.1f} req/s")
    print(f"grading, cache hit         : {hit_rps:8.1f} req/s  ({hit_rps / bare_rps:.2f}x bare)")
    print(f"grading, cache miss + LLM  : {miss_rps:8.1f} req/s  ({miss_rps / bare_rps:.2f}x bare)")
    print(
        f"RESULT grading hit_rps={hit_rps:.1f} miss_rps={miss_rps:.1f} bare_rps={bare_rps:.1f} "
        f"hit_ratio={hit_rps / bare_rps:.3f} miss_ratio={miss_rps / bare_rps:.3f}"
    )


if __name__ == "__main__":
    main()
