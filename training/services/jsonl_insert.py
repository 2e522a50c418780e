"""The import's writes: a batch of rows stored by one `executemany`, and which content hashes are stored already.

Both are what the ORM would do (`bulk_create(..., ignore_conflicts=True)`, `filter(content_hash__in=...)`),
done with one plain statement each, because at import sizes the ORM's per-row and per-parameter work cost more
than the queries.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Field
from django.db.models.constants import OnConflict

from evaluation.llm.schema import grade_dump_json, is_grade_dump

from ..models import TrainingExample

_json_str = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str


def json_dumps(value: Any) -> str:
    """`json.dumps(value)` of the values an import stores as JSON, faster for the usual ones (json sets its
    encoder up on every call, which costs more than writing a short list or a grade)."""
    if type(value) is list and all(type(item) is str for item in value):
        return "[" + ", ".join(map(_json_str, value)) + "]"
    if is_grade_dump(value):
        return grade_dump_json(value)
    return json.dumps(value)


def stored_hashes(digests: list[str]) -> set[str]:
    """Which of `digests` are stored already, by one plain query: `filter(content_hash__in=...)` prepares each
    of a batch's thousand parameters through the field, which cost more than the query."""
    connection = connections[router.db_for_write(TrainingExample)]
    column = connection.ops.quote_name(TrainingExample._meta.get_field("content_hash").column)
    table = connection.ops.quote_name(TrainingExample._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({', '.join(['%s'] * len(digests))})", digests)
        return {digest for (digest,) in cursor.fetchall()}


# Field kinds whose get_db_prep_save returns the values an import gives them unchanged: text for text,
# floats for floats, booleans for booleans (a relation's id, an int or None, likewise).
_PASSED_THROUGH = frozenset({"CharField", "TextField", "FloatField", "BooleanField"})


def _value_preparer(field: Field, connection: BaseDatabaseWrapper) -> Callable[[Any], Any] | None:
    """What `field.get_db_prep_save(value, connection)` does to the values an import gives `field`, decided once
    per batch; None when it returns them unchanged."""
    kind = field.get_internal_type()
    if kind == "JSONField":  # its get_db_prep_save: None stays SQL NULL, anything else is adapted as JSON
        adapt, encoder = connection.ops.adapt_json_value, field.encoder
        if encoder is None and type(connection.ops).adapt_json_value is BaseDatabaseOperations.adapt_json_value:
            return lambda value: None if value is None else json_dumps(value)  # what adapt returns (SQLite)
        return lambda value: None if value is None else adapt(value, encoder)
    if kind in _PASSED_THROUGH or field.is_relation:
        return None
    if kind == "DateTimeField":
        # The import's times are aware (a naive one is read as UTC), which the field's get_prep_value returns as
        # they are: what remains is the backend's adaptation.
        return connection.ops.adapt_datetimefield_value
    prepare = functools.partial(field.get_db_prep_save, connection=connection)
    return lambda value: None if value is None else prepare(value)  # as Django's fields do, None stays NULL


def rows_insert(rows: list[dict[str, Any]]) -> None:
    """What `bulk_create([TrainingExample(**row) for row in rows], ignore_conflicts=True)` stores, in one
    `executemany` of parameter tuples built here: bulk_create compiles a statement of a few dozen rows at a
    time, field by field, and a model instance per row costs more than its values. How each field prepares
    its values (`get_db_prep_save`) is decided once per batch; the fields a line does not set take their
    defaults, prepared once per batch too (every field with a callable default, such as created_at, is set
    from the line).

    Ignoring conflicts keeps a row that another process collected since the duplicate check from failing
    the batch; that rare row is then counted as imported rather than as a duplicate."""
    if not rows:
        return
    connection = connections[router.db_for_write(TrainingExample)]
    ops, meta = connection.ops, TrainingExample._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key and not field.generated]
    given = [field for field in fields if field.attname in rows[0]]
    defaulted = [field for field in fields if field.attname not in rows[0]]
    columns = [*given, *defaulted]
    sql = " ".join(
        part
        for part in (
            ops.insert_statement(on_conflict=OnConflict.IGNORE),
            ops.quote_name(meta.db_table),
            f"({', '.join(ops.quote_name(field.column) for field in columns)})",
            f"VALUES ({', '.join(['%s'] * len(columns))})",
            ops.on_conflict_suffix_sql(columns, OnConflict.IGNORE, None, None),
        )
        if part
    )
    read = operator.itemgetter(*(field.attname for field in given))
    preparers = [
        (index, prepare)
        for index, field in enumerate(given)
        if (prepare := _value_preparer(field, connection)) is not None
    ]
    defaults = tuple(field.get_db_prep_save(field.get_default(), connection) for field in defaulted)
    values = []
    for row in rows:
        params = list(read(row))
        for index, prepare in preparers:
            params[index] = prepare(params[index])
        values.append((*params, *defaults))
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)
