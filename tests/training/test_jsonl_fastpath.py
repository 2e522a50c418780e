"""The import's fast paths store exactly what the slow ones did: parameter tuples built per batch against a
model instance saved by the ORM, a label taken as it is against pydantic's dump, the line-level storability
screen against a walk through every string. Tricky lines (unicode, empty lists, unstorable text, duplicates,
bad rows) on whatever database the tests run on (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.models import NOT_PROVIDED

from evaluation.llm.schema import GradeResult
from ready4hire.validation import text_problem, texts_problem
from training.models import TrainingExample
from training.services import examples_import
from training.services.jsonl import (
    LABEL_FIELDS,
    _check_storable,
    _LineError,
    _row_from_line,
)
from training.services.jsonl_insert import json_dumps, rows_insert

from .factories import grade
from .test_jsonl import original_line

pytestmark = pytest.mark.django_db

TRICKY_LINES = [
    original_line(1),
    # Unicode beyond the BMP, combining marks, quotes and backslashes, an answer with line breaks and tabs.
    original_line(
        2,
        question='¿Qué es un índice?  😀 "B-tree" \\ ñandú Å ﬁ',
        answer="\nUn árbol B:\n\tencuentra filas. ✓ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 </script>\u2028",
        role="Ingeniería de datos",
    ),
    # Empty lists, no role, an int score (pydantic makes it a float), the breakdown out of schema order.
    original_line(
        3,
        expected_concepts=[],
        keywords=[],
        role="",
        strengths=[],
        improvements=[],
        concepts_covered=[],
        missing_concepts=[],
        score=7,
        breakdown={"key_concepts": 2, "clarity": 2, "technical_depth": 1.5, "completeness": 1.5},
    ),
    # Every field of the full export: a reviewer, a corrected label, opinions, no created_at (now).
    {
        **original_line(4),
        "language": "en",
        "prompt_version": "2026.11-v2",
        "review_status": "approved",
        "review_note": "nota: ok ✓",
        "reviewed_by": "rita",
        "reviewed_at": "2026-03-04T05:06:07+02:00",
        "decided_automatically": True,
        "original_label": grade(3.0),
        "original_score": 3.0,
        "opinions": {"llama3.2:3b": 7, "heuristic": 6.5},
        "disagreement": 0.5,
        "uncertainty": 0.25,
        "created_at": None,
    },
    # A reviewer name no user has; a corrected label with no original_score of its own.
    {**original_line(5), "reviewed_by": "nobody", "original_label": grade(2.0, justification="")},
]


def raw_row(content_hash: str) -> dict:
    """The stored columns of one example as the database returns them (no field conversion), less its id."""
    table = connection.ops.quote_name(TrainingExample._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE content_hash = %s", [content_hash])
        names = [column[0] for column in cursor.description]
        row = dict(zip(names, cursor.fetchone(), strict=True))
    row.pop("id")
    return row


def test_the_parameter_tuples_store_what_the_orm_stores(django_user_model):
    django_user_model.objects.create_user(username="rita")
    for record in TRICKY_LINES:
        row = _row_from_line(json.dumps(record, ensure_ascii=False), {})
        rows_insert([row])
        fast = raw_row(row["content_hash"])
        TrainingExample.objects.filter(content_hash=row["content_hash"]).delete()
        TrainingExample.objects.bulk_create([TrainingExample(**row)])
        slow = raw_row(row["content_hash"])
        assert fast == slow, record["question"]
    assert TrainingExample.objects.filter(reviewed_by__username="rita").count() == 1


def test_the_label_is_stored_as_pydantic_dumps_it():
    examples_import(lines=[json.dumps(record, ensure_ascii=False) for record in TRICKY_LINES])
    stored = {example.question: example for example in TrainingExample.objects.all()}
    for record in TRICKY_LINES:
        example = stored[record["question"]]
        expected = GradeResult.model_validate({name: record[name] for name in LABEL_FIELDS}).model_dump()
        # Equal values of the same types: an int score is stored as 7.0, not 7. (The order of the keys is
        # compared with the ORM's in the test above: PostgreSQL's jsonb keeps its own.)
        assert json.dumps(example.label, sort_keys=True) == json.dumps(expected, sort_keys=True), example.question
        assert type(example.score) is float


def test_defaults_of_fields_a_line_does_not_set_are_constants():
    """The fast insert prepares the defaults once per batch: a field with a callable default (a time, a new
    list) must be one that every line sets."""
    row = _row_from_line(json.dumps(original_line(1)), {})
    for field in TrainingExample._meta.concrete_fields:
        if field.attname not in row and not field.primary_key:
            assert field.default is NOT_PROVIDED or not callable(field.default), field.name


def reference_storable_check(record: dict) -> str | None:
    """The check without the line-level screen: every string of the record walked."""
    if found := texts_problem(record):
        path, problem = found
        return f"{path or 'a field name'} {problem}."
    for name in ("question", "answer"):
        value = record.get(name)
        if isinstance(value, str) and (problem := text_problem(value)):
            return f"{name} {problem}."
    return None


STORABILITY_CASES = [
    {},
    {"question": ""},
    {"answer": ""},
    {"question": "   "},
    {"answer": "\u00a0"},
    {"answer": "\u200b"},
    {"answer": "\u2028"},
    {"role": "  "},
    {"role": "\t"},
    {"role": ""},
    {"answer": "\n real text after a line break"},
    {"answer": " leading space"},
    {"answer": "x\u0085"},
    {"answer": "x\x7f"},
    {"answer": "NUL \x00"},
    {"question": "lone \ud800"},
    {"justification": "\x1b[31m"},
    {"keywords": ["ok", "\x0b"]},
    {"keywords": ["ok", "   "]},
    {"opinions": {"\x00": 1}},
    {"opinions": {" ": 1}},
    {"answer": 'quote " and backslash \\ and \\u0000 as text'},
    {"answer": "C:\\bin\\fstab"},
    {"answer": "emoji 😀 and tab\tinside"},
]


@pytest.mark.parametrize("overrides", STORABILITY_CASES)
@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_the_line_screen_refuses_what_the_full_walk_refuses(overrides, ensure_ascii):
    record = original_line(1, **overrides)
    line = json.dumps(record, ensure_ascii=ensure_ascii) + "\n"
    record = json.loads(line)
    expected = reference_storable_check(record)
    try:
        _check_storable(record, line)
        found = None
    except _LineError as exc:
        found = str(exc)
    assert found == expected


def test_a_bad_row_in_a_batch_is_reported_and_the_rest_is_kept():
    first = examples_import(lines=[json.dumps(original_line(1))])
    assert first.imported == 1
    records = [
        original_line(2),
        original_line(1),  # stored by the first import
        original_line(3, answer="NUL \x00"),
        original_line(2, question=original_line(2)["question"].upper()),  # the same example, shouted
        original_line(4, score=11),
        original_line(5, role="r" * 101),
        original_line(6),
    ]
    report = examples_import(lines=[json.dumps(record) + "\n" for record in records], batch_size=2)
    assert (report.imported, report.duplicates, report.invalid) == (2, 2, 3)
    assert [number for number, _ in report.errors] == [3, 5, 6]
    assert sorted(TrainingExample.objects.values_list("question", flat=True)) == [
        original_line(number)["question"] for number in (1, 2, 6)
    ]


@pytest.mark.parametrize(
    "value",
    [
        [],
        ["árbol B", "B-tree", 'quote " backslash \\', "\u2028 \x00 \x7f 😀 \ud800"],
        ["ok", 1],
        ["ok", None],
        {},
        {"llama3.2:3b": 7, "heuristic": 6.5},
        grade(7.0, strengths=[], justification="ñ \x1f 😀"),
        {**grade(7.0), "score": 7},
        [["nested"]],
    ],
)
def test_the_json_text_of_a_value_isjson_dumps(value):
    assert json_dumps(value) == json.dumps(value)
