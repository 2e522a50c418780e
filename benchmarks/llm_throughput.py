"""LLM throughput: batch grading and a comparison against an LLM server with a fixed latency and P slots.

    .venv/bin/python benchmarks/llm_throughput.py [--n 200] [--latency-ms 250] [--slots 8] [--concurrency P]

The loopback Ollama-protocol server answers each chat after `latency` and serves at most `slots` chats at
once (the others wait for a slot, as with Ollama's OLLAMA_NUM_PARALLEL or llama.cpp's --parallel), so no
client can get more than slots / latency grades a second: that is `limit_rps`, and ratio = rps / limit_rps.
Runs in-process on a fresh SQLite file, with LLM_CONCURRENCY = --concurrency (default: the slots).

- batch:   `evaluation_grade_many` (what `evaluate --file` runs) on n distinct answers;
- compare: a two-model comparison (the same server twice) on the n examples the batch collected, timed from
           its start to its last recorded grade (the report's bootstrap after that is not LLM work).

RESULT batch n=… latency_ms=… slots=… rps=… limit_rps=… ratio=…
RESULT compare n=… latency_ms=… slots=… rps=… limit_rps=… ratio=…
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.llm_servers import FakeOllamaServer  # noqa: E402
from tests.llm_servers.server import Reply  # noqa: E402


class SlottedOllamaServer(FakeOllamaServer):
    """Every chat takes `latency` seconds and holds one of `slots` slots while it does."""

    def __init__(self, *, latency: float, slots: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latency = latency
        self._slots = threading.BoundedSemaphore(slots)

    def _chat(self, body: dict[str, Any]) -> Reply:
        with self._slots:
            self._stopping.wait(self.latency)
            return super()._chat(body)


def django_on_fresh_sqlite(base_url: str, **env: str) -> None:
    """Point Django at a fresh SQLite file and the given LLM server, set it up and migrate."""
    workdir = Path(tempfile.mkdtemp(prefix="r4h-bench-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "ready4hire.settings",
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "LLM_BACKEND": "ollama",
            "LLM_BASE_URL": base_url,
            "LLM_MODEL": "llama3.2:3b",
            "LOG_LEVEL": "ERROR",
            **env,
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def result_line(kind: str, **figures: Any) -> str:
    return f"RESULT {kind} " + " ".join(f"{key}={value}" for key, value in figures.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="answers graded (default 200)")
    parser.add_argument("--latency-ms", type=int, default=250, help="the server's latency per chat (default 250)")
    parser.add_argument("--slots", type=int, default=8, help="chats the server serves at once (default 8)")
    parser.add_argument("--concurrency", type=int, help="LLM_CONCURRENCY (default: --slots)")
    args = parser.parse_args()
    concurrency = args.concurrency or args.slots
    latency = args.latency_ms / 1000

    server = SlottedOllamaServer(latency=latency, slots=args.slots).start()
    django_on_fresh_sqlite(server.base_url, LLM_CONCURRENCY=str(concurrency))
    from evaluation.batch_grading import GradingItem, evaluation_grade_many
    from evaluation.llm.schema import GradingRequest
    from evaluation.services import llm_client
    from training.models import TrainingExample
    from training.services import comparison_create_and_run

    limit_rps = args.slots / latency
    items = [
        GradingItem(
            request=GradingRequest.normalised(
                question="What does a Python decorator do, and when would you write one?",
                answer=f"A decorator wraps a function to add behaviour such as logging or caching (variant {i}).",
                expected_concepts=["function", "wrapper", "closure"],
                keywords=["functools.wraps"],
                category="technical",
                difficulty="mid",
                role="Backend Developer",
                language="en",
            )
        )
        for i in range(args.n)
    ]
    llm_client()  # process start-up, not throughput: the pooled HTTP client loads its CA bundle once
    started = time.perf_counter()
    results = evaluation_grade_many(items=items, concurrency=concurrency)
    batch_seconds = time.perf_counter() - started
    assert all(getattr(r, "source", None) == "llm" for r in results), "every answer should get an LLM grade"
    batch_rps = args.n / batch_seconds

    # The collected examples become the human-reviewed set a comparison needs (a benchmark shortcut).
    TrainingExample.objects.update(review_status=TrainingExample.ReviewStatus.APPROVED)
    last_grade = [0.0]

    def on_progress(done: int, total: int) -> None:
        last_grade[0] = time.perf_counter()

    models = [("base", f"llama3.2:3b@ollama+{server.base_url}"), ("ft", f"llama3.2:3b@ollama+{server.base_url}")]
    started = time.perf_counter()
    run = comparison_create_and_run(models=models, on_progress=on_progress, concurrency=concurrency)
    grades = run.report["models"]["base"]["n_grades"] + run.report["models"]["ft"]["n_grades"]
    compare_rps = grades / (last_grade[0] - started)
    server.stop()

    print(f"server: {args.slots} slots, {args.latency_ms} ms a chat -> at most {limit_rps:.1f} grades/s")
    print(f"batch grading  : {args.n} answers in {batch_seconds:.2f} s, {batch_rps:.1f} grades/s")
    print(f"comparison     : {grades} grades, {compare_rps:.1f} grades/s")
    common = {"latency_ms": args.latency_ms, "slots": args.slots, "concurrency": concurrency}
    print(
        result_line(
            "batch",
            n=args.n,
            **common,
            rps=f"{batch_rps:.1f}",
            limit_rps=f"{limit_rps:.1f}",
            ratio=f"{batch_rps / limit_rps:.3f}",
        )
    )
    print(
        result_line(
            "compare",
            n=grades,
            **common,
            rps=f"{compare_rps:.1f}",
            limit_rps=f"{limit_rps:.1f}",
            ratio=f"{compare_rps / limit_rps:.3f}",
        )
    )


if __name__ == "__main__":
    main()
