"""Typical examples for the review screen's tests: the length of question, answer, concepts and justification a
reviewer sees every day, in English and Spanish, with a second opinion that disagrees."""

from __future__ import annotations

from typing import Any

from training.models import TrainingExample

from .factories import TrainingExampleFactory, grade

QUESTIONS = {
    "en": (
        "What is a database index, and what does it cost? When would you not add one?",
        "A database index is a separate structure, usually a B-tree, that keeps the values of one or more columns "
        "in order with pointers to the rows. The database can then find the rows for a WHERE clause or a join "
        "without a full scan of the table, which turns a linear search into a logarithmic one. The cost is on "
        "writes: every INSERT, UPDATE and DELETE must also update each index, and the index takes disk space and "
        "memory. So I would not index a small table, a column with very few distinct values like a boolean, or a "
        "table that is written far more often than it is read. I check the query plan with EXPLAIN before and "
        "after, and I prefer one composite index that matches the most frequent query over many single-column "
        "ones. A covering index can even answer a query without touching the table.",
        ["B-tree", "full scan", "write cost", "selectivity", "query plan"],
    ),
    "es": (
        "¿Qué es un índice en una base de datos y cuándo no conviene crearlo?",
        "Un índice es una estructura aparte, normalmente un árbol B, que guarda ordenados los valores de una o "
        "varias columnas con punteros a las filas. Así la base de datos encuentra las filas de un WHERE sin "
        "recorrer toda la tabla. El coste está en las escrituras: cada INSERT, UPDATE o DELETE actualiza también "
        "los índices, que además ocupan disco y memoria. No lo crearía en tablas pequeñas ni en columnas con muy "
        "pocos valores distintos, y miraría el plan de ejecución con EXPLAIN antes y después.",
        ["árbol B", "recorrido completo", "coste de escritura", "selectividad", "plan de ejecución"],
    ),
}


def typical_example(*, language: str = "en", score: float = 6.5, n: int = 0, **overrides: Any) -> TrainingExample:
    question, answer, concepts = QUESTIONS[language]
    label = grade(
        score,
        justification=(
            "Explains what an index is and why it speeds up reads, and names the write cost. It does not "
            "discuss selectivity in depth, and the query plan is only mentioned in passing."
        ),
        concepts_covered=concepts[:3],
        missing_concepts=concepts[3:],
        strengths=["clear structure", "names the trade-off"],
        improvements=["explain selectivity", "show a query plan"],
    )
    fields: dict[str, Any] = {
        "question": f"{question} ({n})" if n else question,
        "answer": answer,
        "expected_concepts": concepts,
        "language": language,
        "score": score,
        "label": label,
        "opinions": {"heuristic-v2": round(max(0.0, score - 2.5), 1), "ready4hire:v1": round(min(10.0, score + 1), 1)},
        "disagreement": 3.5,
        "role": "Backend Developer",
    }
    fields.update(overrides)
    return TrainingExampleFactory(**fields)
