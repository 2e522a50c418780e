"""Grading throughput through the full API path, next to a bare endpoint and a floor in the same run; and
many clients waiting on a slow LLM at once under the production server.

    .venv/bin/python benchmarks/grading.py [--requests N] [--profile hit|miss|floor] [--clients 64 256]
        [--database sqlite|postgres]

In-process part, with Django's async test client (its ASGI handler, middleware, API-key auth, validation,
service, database), one request at a time on a fresh SQLite file, against a loopback Ollama-protocol server
that answers instantly:
- bare:  a django-ninja endpoint that validates the same input schema and returns it, touching nothing;
- floor: the minimum a recorded grade needs: authenticate the API key, insert one Evaluation row, return JSON;
- hit:   the same request again and again, answered from the grade cache (ratio to the floor: goal ≥ 0.5);
- miss:  every request is new, so each one reaches the LLM server, is parsed, stored (and collected).
`--profile S` prints where scenario S spends its time (cProfile, top functions by cumulative time).

API part (`--clients`, default 64 and 256): `make serve`'s deploy/serve.sh (uvicorn, DEBUG off) in a
subprocess, C clients each posting distinct answers and waiting for the grade, the LLM answering after 2 s
with C slots, so at most C / 2 grades a second (limit_rps); a fresh SQLite file and one worker, or with
`--database postgres` a fresh PostgreSQL database and WEB_CONCURRENCY (default 2) workers. The CPU each side
spent per grade is printed with it (benchmarks/api_concurrency.py). Skipped with --clients 0.

RESULT grading hit_rps=… miss_rps=… bare_rps=… floor_rps=… hit_floor_ratio=… hit_ratio=… miss_ratio=…
RESULT api clients=… database=… failed=… rps=… limit_rps=… ratio=… server_cpu_ms=… client_cpu_ms=…
"""

import argparse
import asyncio
import cProfile
import itertools
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.databases import DEFAULT_POSTGRES_URL, on_each_database  # noqa: E402
from benchmarks.llm_throughput import django_on_fresh_sqlite, result_line  # noqa: E402

BODY = {
    "question": "What is the GIL in Python and how does it affect concurrency?",
    "answer": "The GIL lets one thread run bytecode at a time; use multiprocessing for CPU-bound work.",
    "expected_concepts": ["GIL", "threads", "multiprocessing"],
    "keywords": ["CPython"],
    "category": "technical",
    "difficulty": "mid",
    "role": "Backend Developer",
    "language": "en",
}


def bench_urls() -> None:
    """The project's URLs plus /bare/bare and /bare/floor, installed as the ROOT_URLCONF."""
    from django.conf import settings
    from django.urls import path
    from ninja import NinjaAPI

    from evaluation.auth import scoped
    from evaluation.models import Evaluation
    from evaluation.schemas import EvaluationIn
    from ready4hire.urls import urlpatterns

    bare_api = NinjaAPI(urls_namespace="bare")

    @bare_api.post("/bare", auth=None)
    def bare(request, payload: EvaluationIn):
        return {"id": 0, "status": "done", "question": payload.question}

    @bare_api.post("/floor", auth=scoped("grade", session_permission="evaluation.view_evaluation"))
    def floor(request, payload: EvaluationIn):
        row = Evaluation.objects.create(
            status="done", question_text=payload.question, answer=payload.answer, category=payload.category,
            difficulty=payload.difficulty, language=payload.language or "en",
        )  # fmt: skip
        return {"id": row.pk, "status": row.status, "question": row.question_text}

    module = ModuleType("bench_urls")
    module.urlpatterns = [*urlpatterns, path("bare/", bare_api.urls)]
    sys.modules["bench_urls"] = module
    settings.ROOT_URLCONF = "bench_urls"


def in_process(requests: int, profile: str | None, rounds: int) -> None:
    from tests.llm_servers import FakeOllamaServer

    server = FakeOllamaServer().start()
    django_on_fresh_sqlite(server.base_url)
    from django.test import AsyncClient

    from evaluation.services import api_key_create

    bench_urls()
    _, raw_key = api_key_create(name="bench")
    # Django's ASGI handler, as under `make serve`: the grading view is async, and the WSGI test client would
    # spend a new thread and event loop on each of its requests, which no production server does.
    client, headers = AsyncClient(), {"Authorization": f"Bearer {raw_key}"}

    async def arate(url: str, bodies) -> float:
        started = time.perf_counter()
        count = 0
        for payload in bodies:
            data = json.dumps(payload)
            response = await client.post(url, data=data, content_type="application/json", headers=headers)
            assert response.status_code == 200, response.content[:300]
            count += 1
        return count / (time.perf_counter() - started)

    def rate(url: str, bodies) -> float:
        return asyncio.run(arate(url, bodies))

    def misses(n: int, tag: str):
        return ({**BODY, "answer": f"{BODY['answer']} ({tag}{i})"} for i in range(n))

    miss_round = itertools.count()  # every round's misses are new answers
    scenarios = {
        "bare": lambda: rate("/bare/bare", [BODY] * requests),
        "floor": lambda: rate("/bare/floor", [BODY] * requests),
        "hit": lambda: rate("/api/v1/evaluations", [BODY] * requests),
        "miss": lambda: rate("/api/v1/evaluations", misses(requests, f"m{next(miss_round)}-")),
    }
    for url in ("/bare/bare", "/bare/floor", "/api/v1/evaluations"):  # warm-up: imports, first connections
        rate(url, [BODY] * 20)
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(scenarios[profile])
        pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(40)
    # Rounds interleave the scenarios and each keeps its median, so a burst of load elsewhere on the machine
    # lands on every scenario alike instead of on whichever ran at that moment.
    runs: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(rounds):
        for name, scenario in scenarios.items():
            runs[name].append(scenario())
    rps = {name: statistics.median(values) for name, values in runs.items()}
    llm_calls = len(server.chat_requests)
    server.stop()

    print(f"requests per scenario and round: {requests}, {rounds} rounds; LLM calls made: {llm_calls}")
    for name, value in rps.items():
        print(f"{name:<6}: {value:8.1f} req/s  ({value / rps['bare']:.2f}x bare, {value / rps['floor']:.2f}x floor)")
    print(
        result_line(
            "grading",
            hit_rps=f"{rps['hit']:.1f}",
            miss_rps=f"{rps['miss']:.1f}",
            bare_rps=f"{rps['bare']:.1f}",
            floor_rps=f"{rps['floor']:.1f}",
            hit_floor_ratio=f"{rps['hit'] / rps['floor']:.3f}",
            hit_ratio=f"{rps['hit'] / rps['bare']:.3f}",
            miss_ratio=f"{rps['miss'] / rps['bare']:.3f}",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario (default 300)")
    parser.add_argument("--scenario-rounds", type=int, default=3, help="interleaved rounds, median kept (3)")
    parser.add_argument("--profile", choices=["bare", "floor", "hit", "miss"], help="profile one scenario")
    parser.add_argument("--clients", type=int, nargs="*", default=[64, 256], help="API runs (default 64 256)")
    parser.add_argument("--latency-ms", type=int, default=2000, help="the LLM's latency in the API runs")
    parser.add_argument("--rounds", type=int, default=3, help="requests each API client makes in turn")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the API runs' database: a fresh SQLite file (default) or a fresh PostgreSQL database; with "
        "postgres, WEB_CONCURRENCY defaults to 2 as in `make serve`",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL server (admin database)")
    args = parser.parse_args()
    if args.requests:
        in_process(args.requests, args.profile, args.scenario_rounds)
    from benchmarks.api_concurrency import api_run

    for clients in [c for c in args.clients if c > 0]:
        if args.database == "sqlite":
            api_run(clients=clients, latency_ms=args.latency_ms, rounds=args.rounds)
            continue
        os.environ.setdefault("WEB_CONCURRENCY", "2")
        measured = on_each_database(
            lambda url, clients=clients: str(
                api_run(clients=clients, latency_ms=args.latency_ms, rounds=args.rounds, database_url=url)
            ),
            which="postgres",
            postgres_url=args.postgres_url,
            database="r4h_bench_api",
            title=f"{clients} API clients",
        )
        if not measured:
            sys.exit(f"PostgreSQL at {args.postgres_url} is not reachable")


if __name__ == "__main__":
    main()
