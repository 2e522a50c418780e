"""The review screen at scale: the server time of one review round with 100k examples in the table.

    .venv/bin/python benchmarks/review.py [--rows N] [--rounds R] [--database sqlite|postgres|all] [--postgres-url URL]

For each database (PostgreSQL only when it is reachable), on a fresh database holding N examples (half of
them English, all pending, with spread between graders' opinions):
- round: a reviewer on the review screen with a filter set (language=en, order=disagreement) submits a
  decision (approve, reject or correct, in turn) and loads the next example of the queue: the POST and the
  GET it redirects to, through Django's whole stack in this process (no network), R times;
- bare:  the admin index page for the same user, R times, in the same run: what any admin page costs.
Each database prints `RESULT review db=… rows=… p50_ms=… p95_ms=… bare_p50_ms=… ratio=…` (ratio = round
p50 / bare p50); the last line is `RESULT review p50_ms=… p95_ms=… bare_p50_ms=… ratio=…` for the last
database measured.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.curation import record, record_row  # noqa: E402
from benchmarks.databases import DEFAULT_POSTGRES_URL, children_on_each_database  # noqa: E402
from benchmarks.example_rows import insert_sql  # noqa: E402

BENCH_DATABASE = "r4h_bench_review"
# The decision form's inputs as the page fills them (the hidden ids and the label's score and breakdown).
FIELDS = re.compile(
    r'name="(example_id|expected_version|score|completeness|technical_depth|clarity|key_concepts)" value="([^"]*)"'
)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _fill(rows: int) -> None:
    from django.db import connection, transaction

    sql = insert_sql(connection)
    batch = []
    with transaction.atomic(), connection.cursor() as cursor:
        for number in range(rows):
            disagreement = (number % 7) / 2
            batch.append(
                record_row(
                    connection,
                    number,
                    source="llm",
                    language=("en", "es")[number % 2],
                    opinions={"heuristic-v2": round(max(0.0, record(number)["score"] - disagreement), 1)},
                    disagreement=disagreement,
                )
            )
            if len(batch) == 5000:
                cursor.executemany(sql, batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)


def child(rows: int, rounds: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from training.models import Review, TrainingExample

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _fill(rows)
    print(f"  {connection.vendor}: {rows} examples inserted in {time.perf_counter() - started:.1f}s", flush=True)
    if connection.vendor == "postgresql":
        # What autovacuum does to a freshly loaded table in production (its insert threshold): statistics, and
        # the visibility map that lets the queue's count read its covering index alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    reviewer = User.objects.create_user(username="bench-reviewer", is_staff=True)
    reviewer.groups.add(Group.objects.get(name="Reviewers"))
    client = Client()
    client.force_login(reviewer)
    screen = reverse("admin:training_trainingexample_review") + "?language=en"
    index = reverse("admin:index")

    page = client.get(screen, secure=True)
    assert page.status_code == 200, page.status_code
    actions = ("approve", "reject", "correct")
    timings = []
    for number in range(rounds):
        shown = dict(FIELDS.findall(page.content.decode()))
        data = {**shown, "action": actions[number % 3], "seconds_spent": "20", "note": ""}
        if data["action"] == "correct":
            data["score"] = "9.5" if data["score"] != "9.5" else "9"
        began = time.perf_counter()
        submitted = client.post(screen, data, secure=True)
        page = client.get(submitted["Location"], secure=True)
        timings.append(time.perf_counter() - began)
        assert submitted.status_code == 302, submitted.content.decode()[-3000:]
        assert page.status_code == 200, page.status_code
    assert Review.objects.filter(reviewer=reviewer).count() == rounds
    reviewed = TrainingExample.objects.exclude(review_status="pending")
    assert not reviewed.exclude(language="en").exists(), "the queue lost its filter"

    bare = []
    client.get(index, secure=True)
    for _ in range(rounds):
        began = time.perf_counter()
        response = client.get(index, secure=True)
        bare.append(time.perf_counter() - began)
        assert response.status_code == 200

    p50, p95 = statistics.median(timings) * 1000, _percentile(timings, 0.95) * 1000
    bare_p50 = statistics.median(bare) * 1000
    print(
        f"RESULT review db={connection.vendor} rows={rows} p50_ms={p50:.1f} p95_ms={p95:.1f} "
        f"bare_p50_ms={bare_p50:.1f} ratio={p50 / bare_p50:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="examples in the table (default 100000)")
    parser.add_argument("--rounds", type=int, default=200, help="review rounds to time (default 200)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL server to create the benchmark database on",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.rounds)
        return

    argv = ["--rows", str(args.rows), "--rounds", str(args.rounds)]
    results = children_on_each_database(
        __file__,
        argv,
        args,
        database=BENCH_DATABASE,
        title=f"{args.rows} rows, {args.rounds} rounds",
        env={"DJANGO_ALLOWED_HOSTS": "testserver"},
    )
    print("RESULT review " + _tail(results[-1]))


def _tail(line: str) -> str:
    """The figures of a per-database line, without its db= and rows= fields."""
    return " ".join(part for part in line.split()[2:] if not part.startswith(("db=", "rows=")))


if __name__ == "__main__":
    main()
