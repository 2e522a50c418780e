"""Curation at scale: import N examples from JSONL and compute the statistics, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/curation.py [--rows N] [--database sqlite|postgres|all] [--postgres-url URL]
        [--postgres-database NAME]

For each database (PostgreSQL only when it is reachable), on a fresh database:
- floor:  a plain `executemany` INSERT of the same N rows, values prepared beforehand, into the same table
          (same indexes and unique constraint), in one transaction: what the database itself costs;
- import: `examples_import` reading the JSONL file (parse, validate, hash, de-duplicate, batched bulk insert);
- stats:  `training_stats` over the N rows (median of 5), its peak Python memory measured with tracemalloc;
          it must stay flat as N grows, since the database does the counting.
Each database prints `RESULT curation rows=… import_eps=… floor_eps=… import_ratio=… stats_ms=… peak_mb=… db=…`
(import_ratio = import_eps / floor_eps); the last line is the last database measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.databases import DEFAULT_POSTGRES_URL, children_on_each_database  # noqa: E402  (needs ROOT)
from benchmarks.example_rows import insert_sql, row_values  # noqa: E402  (needs ROOT on the path)

LABEL_KEYS = (
    "score",
    "breakdown",
    "justification",
    "strengths",
    "improvements",
    "concepts_covered",
    "missing_concepts",
)

BENCH_DATABASE = "r4h_bench_curation"

CATEGORIES = ("technical", "soft_skills")
DIFFICULTIES = ("junior", "mid", "senior")
ROLES = ("Backend Developer", "Data Engineer", "Frontend Developer", "DevOps Engineer", "QA Engineer", "")
SOURCES = ("llm", "llm", "llm", "human", "heuristic")
BREAKDOWN_MAXIMA = {"completeness": 3.0, "technical_depth": 3.0, "clarity": 2.0, "key_concepts": 2.0}


def record(number: int) -> dict:
    """One line of the original collector's format; every line has its own question and answer."""
    score = round((number * 7919 % 101) / 10, 1)
    breakdown = {name: round(score * top / 10, 2) for name, top in BREAKDOWN_MAXIMA.items()}
    breakdown["key_concepts"] = round(score - sum(v for k, v in breakdown.items() if k != "key_concepts"), 2)
    return {
        "question": f"Pregunta {number % 500}: ¿qué es un índice y cuándo conviene usarlo? (variante {number})",
        "answer": (
            f"Respuesta {number}: un índice es una estructura, normalmente un árbol B, que permite encontrar filas "
            "sin recorrer toda la tabla. Conviene en columnas muy consultadas en WHERE o JOIN, pero encarece las "
            "escrituras y ocupa espacio."
        ),
        "expected_concepts": ["árbol B", "consultas", "escrituras"],
        "keywords": ["índice", "B-tree"],
        "category": CATEGORIES[number % 2],
        "difficulty": DIFFICULTIES[number % 3],
        "role": ROLES[number % len(ROLES)],
        "score": score,
        "breakdown": breakdown,
        "justification": f"La respuesta cubre los conceptos principales. Nota {score}.",
        "strengths": ["explica el árbol B"],
        "improvements": ["mencionar índices compuestos"],
        "concepts_covered": ["árbol B", "consultas"],
        "missing_concepts": ["escrituras"],
        "evaluation_source": SOURCES[number % len(SOURCES)],
        "model_used": "llama3.2:3b",
        "created_at": (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=number)).isoformat(),
    }


def record_row(connection: Any, number: int, **overrides: Any) -> tuple:
    """`record(number)` as the row the import stores it as, for raw inserts; `overrides` replace or add
    `row_values` arguments."""
    r = record(number)
    return row_values(
        connection,
        **{
            "question": r["question"],
            "answer": r["answer"],
            "expected_concepts": r["expected_concepts"],
            "keywords": r["keywords"],
            "category": r["category"],
            "difficulty": r["difficulty"],
            "role": r["role"],
            "label": {key: r[key] for key in LABEL_KEYS},
            "source": r["evaluation_source"],
            "model": r["model_used"],
            "review_status": "pending",
            "created_at": datetime.fromisoformat(r["created_at"]),
            **overrides,
        },
    )


def child(rows: int, batch_size: int) -> None:
    """Measure on the database DATABASE_URL names (a fresh one: the parent creates it)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from training.models import TrainingExample
    from training.selectors import training_stats
    from training.services import examples_import

    call_command("migrate", verbosity=0)
    vendor = connection.vendor
    workdir = Path(tempfile.mkdtemp(prefix="r4h-bench-curation-"))
    jsonl = workdir / "examples.jsonl"
    with jsonl.open("w", encoding="utf-8") as out:
        for number in range(rows):
            out.write(json.dumps(record(number), ensure_ascii=False) + "\n")

    # The floor's rows: exactly what the import stores, prepared before the clock starts.
    values = [record_row(connection, number) for number in range(rows)]
    table = connection.ops.quote_name(TrainingExample._meta.db_table)
    sql = insert_sql(connection)

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, values)
    floor_seconds = time.perf_counter() - started
    del values
    assert TrainingExample.objects.count() == rows
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table} CASCADE" if vendor == "postgresql" else f"DELETE FROM {table}")

    started = time.perf_counter()
    with jsonl.open("rb") as lines:
        report = examples_import(lines=lines, batch_size=batch_size)
    import_seconds = time.perf_counter() - started
    assert report.imported == rows and report.invalid == 0, report.summary()

    training_stats()  # warm the database's caches once
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        stats = training_stats()
        timings.append(time.perf_counter() - started)
    assert stats["total_examples"] == rows
    tracemalloc.start()
    training_stats()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    import_eps = rows / import_seconds
    floor_eps = rows / floor_seconds
    print(
        f"  {vendor}: floor {floor_seconds:.2f}s, import {import_seconds:.2f}s ({report.summary()}), "
        f"stats median {statistics.median(timings) * 1000:.1f} ms",
        flush=True,
    )
    print(
        f"RESULT curation rows={rows} import_eps={import_eps:.0f} floor_eps={floor_eps:.0f} "
        f"import_ratio={import_eps / floor_eps:.3f} stats_ms={statistics.median(timings) * 1000:.1f} "
        f"peak_mb={peak / 2**20:.3f} db={vendor}",
        flush=True,
    )
    jsonl.unlink()
    workdir.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="examples to import (default 100000)")
    parser.add_argument("--database", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL server to create the benchmark database on",
    )
    parser.add_argument(
        "--postgres-database", default=BENCH_DATABASE, help=f"the database to (re)create (default {BENCH_DATABASE})"
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="import batch size (default 1000)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.batch_size)
        return

    argv = ["--rows", str(args.rows), "--batch-size", str(args.batch_size)]
    children_on_each_database(__file__, argv, args, database=args.postgres_database, title=f"{args.rows} rows")


if __name__ == "__main__":
    main()
