"""Raw inserts of training examples for the benchmarks: the curation benchmark times them as its floor, the
export benchmark fills its database with them. Django must be set up before these are called."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

COLUMNS = (
    "question",
    "answer",
    "expected_concepts",
    "keywords",
    "category",
    "difficulty",
    "role",
    "language",
    "label",
    "score",
    "source",
    "model",
    "prompt_version",
    "review_status",
    "review_note",
    "content_hash",
    "created_at",
    "opinions",
    "disagreement",
    "uncertainty",
    "version",
    "decided_automatically",
)


def insert_sql(connection: Any) -> str:
    from training.models import TrainingExample

    table = connection.ops.quote_name(TrainingExample._meta.db_table)
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"


def row_values(
    connection: Any,
    *,
    question: str,
    answer: str,
    expected_concepts: list[str],
    keywords: list[str],
    category: str,
    difficulty: str,
    role: str,
    label: dict[str, Any],
    source: str,
    model: str,
    review_status: str,
    created_at: datetime,
    language: str = "es",
    opinions: dict[str, float] | None = None,
    disagreement: float = 0.0,
) -> tuple:
    """One row in COLUMNS order, exactly as the ORM would store it."""
    from training.text import content_hash

    return (
        question,
        answer,
        json.dumps(expected_concepts),
        json.dumps(keywords),
        category,
        difficulty,
        role,
        language,
        json.dumps(label),
        label["score"],
        source,
        model,
        "",
        review_status,
        "",
        content_hash(question=question, answer=answer),
        connection.ops.adapt_datetimefield_value(created_at),
        json.dumps(opinions or {}),
        disagreement,
        0.0,
        0,
        False,
    )
