"""Dataset export at scale: N approved examples exported (plan, split, format, stream, hash) on SQLite.

    .venv/bin/python benchmarks/export.py [--rows N] [--format alpaca|sharegpt|messages] [--chunk-size N]

A fresh temporary SQLite database is filled with N approved examples (raw executemany, in batches), then two
fresh processes read the same rows:
- bare:   the same rows (same columns, same id order, same chunked iterator) serialised one per line with
          the same JSON library to a file: what reading and writing the data costs without an export;
- export: `dataset_export_submit(wait=True)`: plan (ids only), seeded stratified split, formatting with the
          live prompt, streaming to temporary files with SHA-256, manifest and renames.
Each reports examples/s and its peak resident memory above the process's own baseline taken just before it
starts (Linux ru_maxrss), so Django's import cost is not counted. The last line is
`RESULT export rows=… eps=… bare_eps=… ratio=… peak_mb=…` (ratio = eps / bare_eps; peak_mb is the export's).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.example_rows import insert_sql, row_values  # noqa: E402  (needs ROOT on the path)

CATEGORIES = ("technical", "soft_skills")
DIFFICULTIES = ("junior", "mid", "senior")
SOURCES = ("llm", "llm", "human")
BREAKDOWN_MAXIMA = {"completeness": 3.0, "technical_depth": 3.0, "clarity": 2.0, "key_concepts": 2.0}
INSERT_BATCH = 20_000


def _label(number: int) -> dict:
    score = round((number * 7919 % 101) / 10, 1)
    breakdown = {name: round(score * top / 10, 2) for name, top in BREAKDOWN_MAXIMA.items()}
    return {
        "score": score,
        "breakdown": breakdown,
        "justification": f"La respuesta cubre los conceptos principales con ejemplos. Nota {score}.",
        "strengths": ["explica el árbol B", "menciona el coste de escritura"],
        "improvements": ["mencionar índices compuestos"],
        "concepts_covered": ["árbol B", "consultas"],
        "missing_concepts": ["escrituras"],
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")
    import django

    django.setup()


def populate(rows: int) -> None:
    _setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    sql = insert_sql(connection)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    for first in range(0, rows, INSERT_BATCH):
        values = []
        for number in range(first, min(first + INSERT_BATCH, rows)):
            question = f"Pregunta {number % 500}: ¿qué es un índice y cuándo conviene usarlo? (variante {number})"
            answer = (
                f"Respuesta {number}: un índice es una estructura, normalmente un árbol B, que permite encontrar "
                "filas sin recorrer toda la tabla. Conviene en columnas muy consultadas en WHERE o JOIN, pero "
                "encarece las escrituras y ocupa espacio."
            )
            label = _label(number)
            values.append(
                row_values(
                    connection,
                    question=question,
                    answer=answer,
                    expected_concepts=["árbol B", "consultas", "escrituras"],
                    keywords=["índice", "B-tree"],
                    category=CATEGORIES[number % 2],
                    difficulty=DIFFICULTIES[number % 3],
                    role="Backend Developer",
                    label=label,
                    source=SOURCES[number % len(SOURCES)],
                    model="llama3.2:3b",
                    review_status="approved",
                    created_at=start + timedelta(seconds=number),
                )
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, values)
    print(f"  inserted {rows} rows in {time.perf_counter() - started:.1f}s", flush=True)


def bare(rows: int, chunk_size: int, out: Path) -> None:
    """The floor: the same rows through the same chunked iterator, one JSON line each, nothing else."""
    _setup()
    from training.exports.filters import ExportFilters
    from training.exports.records import EXPORT_ROW_FIELDS
    from training.selectors.exports import export_examples

    examples = export_examples(filters=ExportFilters()).values(*EXPORT_ROW_FIELDS)
    baseline = _rss_mb()
    started = time.perf_counter()
    written = 0
    with out.open("wb") as file:
        for row in examples.iterator(chunk_size=chunk_size):
            file.write((json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
            written += 1
    seconds = time.perf_counter() - started
    assert written == rows, written
    print(f"BARE eps={rows / seconds:.0f} seconds={seconds:.2f} peak_mb={_peak_mb() - baseline:.1f}", flush=True)


def export(rows: int, fmt: str) -> None:
    _setup()
    from training.exports.filters import ExportFilters
    from training.models import JobStatus
    from training.selectors.exports import dataset_preview
    from training.services.exports import dataset_export_submit

    dataset_preview(fmt=fmt, filters=ExportFilters(), limit=1)  # load the prompt and validators first
    baseline = _rss_mb()
    started = time.perf_counter()
    result = dataset_export_submit(name="bench", fmt=fmt, wait=True)
    seconds = time.perf_counter() - started
    assert result.status == JobStatus.DONE, result.error
    assert result.train_count + result.val_count == rows
    print(
        f"EXPORT eps={rows / seconds:.0f} seconds={seconds:.2f} peak_mb={_peak_mb() - baseline:.1f} "
        f"rss_mb={_peak_mb():.1f} train={result.train_count} val={result.val_count} "
        f"train_bytes={result.files['train']['size']}",
        flush=True,
    )


def _child(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, __file__, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    sys.stdout.write(completed.stdout)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        sys.exit(f"benchmark step {args[:2]} failed")
    return completed.stdout


def _value(output: str, prefix: str, key: str) -> float:
    line = next(line for line in output.splitlines() if line.startswith(prefix))
    return float(dict(part.split("=", 1) for part in line.split()[1:])[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="examples to export (default 100000)")
    parser.add_argument("--format", choices=["alpaca", "sharegpt", "messages"], default="messages")
    parser.add_argument("--chunk-size", type=int, default=2000, help="rows read per query (default 2000)")
    parser.add_argument("--phase", choices=["populate", "bare", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "populate":
        populate(args.rows)
        return
    if args.phase == "bare":
        bare(args.rows, args.chunk_size, args.out)
        return
    if args.phase == "export":
        export(args.rows, args.format)
        return

    workdir = Path(tempfile.mkdtemp(prefix="r4h-bench-export-"))
    # Production settings (DEBUG off): with DEBUG on, Django records every query and its SQL text.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "DATASET_EXPORT_CHUNK_SIZE": str(args.chunk_size),
        "DJANGO_SETTINGS_MODULE": "ready4hire.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "LOG_LEVEL": "ERROR",
    }
    env.pop("CELERY_BROKER_URL", None)
    try:
        print(f"SQLite, {args.rows} approved examples, format {args.format}, chunks of {args.chunk_size}", flush=True)
        _child(env, "--phase", "populate", "--rows", str(args.rows))
        floor = _child(
            env, "--phase", "bare", "--rows", str(args.rows), "--chunk-size", str(args.chunk_size),
            "--out", str(workdir / "bare.jsonl"),
        )  # fmt: skip
        measured = _child(env, "--phase", "export", "--rows", str(args.rows), "--format", args.format)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    eps, bare_eps = _value(measured, "EXPORT", "eps"), _value(floor, "BARE", "eps")
    print(
        f"RESULT export rows={args.rows} eps={eps:.0f} bare_eps={bare_eps:.0f} ratio={eps / bare_eps:.3f} "
        f"peak_mb={_value(measured, 'EXPORT', 'peak_mb'):.1f}"
    )


if __name__ == "__main__":
    main()
