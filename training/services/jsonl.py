"""JSONL import and export in the original TrainingDataCollector's line format, so old data comes in and goes out.

One example per line:
    question, answer, expected_concepts, keywords, category, difficulty, role, score, breakdown,
    justification, strengths, improvements, concepts_covered, missing_concepts, evaluation_source,
    model_used, created_at
The full export (the default) adds every field the original format has no room for (language, prompt
version, review state, reviewer, note, the machine's original label and score, the other graders' opinions),
so a round trip loses nothing; the import reads them when present. `legacy` writes the original format only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.db.models.constants import OnConflict
from django.utils import timezone

from ready4hire.errors import InvalidInput
from ready4hire.validation import text_problem, texts_problem

from ..models import TrainingExample
from ..text import content_hash
from .labels import REVIEW_STATUSES, label_validate, snapshot_validate

ORIGINAL_FIELDS = (
    "question",
    "answer",
    "expected_concepts",
    "keywords",
    "category",
    "difficulty",
    "role",
    "score",
    "breakdown",
    "justification",
    "strengths",
    "improvements",
    "concepts_covered",
    "missing_concepts",
    "evaluation_source",
    "model_used",
    "created_at",
)
# What the full export (the default) adds to the original format, so a round trip loses nothing; the import
# reads each one when present. Not carried: links to rows of this database (evaluation, review reservations).
EXTENDED_FIELDS = (
    "language",
    "prompt_version",
    "review_status",
    "review_note",
    "reviewed_by",
    "reviewed_at",
    "decided_automatically",
    "original_label",
    "original_score",
    "opinions",
    "disagreement",
    "uncertainty",
)
EXPORT_FORMATS = ("full", "legacy")
LABEL_FIELDS = (
    "score",
    "breakdown",
    "justification",
    "strengths",
    "improvements",
    "concepts_covered",
    "missing_concepts",
)

MAX_REPORTED_ERRORS = 50
DEFAULT_BATCH_SIZE = 1000


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def add_error(self, line_number: int, message: str) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append((line_number, message))

    def summary(self) -> str:
        return (
            f"{self.lines} lines: {self.imported} imported, {self.duplicates} duplicates skipped, "
            f"{self.invalid} invalid"
        )


class _LineError(ValueError):
    pass


def _string_list(record: Mapping[str, Any], name: str) -> list[str]:
    value = record.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _LineError(f"{name} must be a list of strings.")
    return value


def _string(record: Mapping[str, Any], name: str, default: str = "") -> str:
    value = record.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _LineError(f"{name} must be a string.")
    return value


def _created_at(value: Any) -> datetime:
    if value in (None, ""):
        return timezone.now()
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise _LineError(f"created_at is not an ISO 8601 date and time: {value!r}.") from None
    # The original collector wrote naive local times; without a zone we read them as UTC.
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _number(record: Mapping[str, Any], name: str, default: float | None) -> float | None:
    value = record.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _LineError(f"{name} must be a number.")
    return float(value)


def _review_fields_read(example: TrainingExample, record: Mapping[str, Any]) -> None:
    """What the full export adds beyond the label and the review state: who reviewed and when, whether a
    program decided, the machine's original score, the other graders' opinions and their spread."""
    if record.get("reviewed_by"):
        user_model = get_user_model()
        name = _string(record, "reviewed_by")
        example.reviewed_by = user_model.objects.filter(**{user_model.USERNAME_FIELD: name}).first()
    if record.get("reviewed_at"):
        example.reviewed_at = _created_at(record["reviewed_at"])
    example.decided_automatically = record.get("decided_automatically") is True
    example.original_score = _number(record, "original_score", example.original_score)
    opinions = record.get("opinions") or {}
    if not isinstance(opinions, dict) or not all(isinstance(v, int | float) for v in opinions.values()):
        raise _LineError("opinions must map grader names to scores.")
    example.opinions = opinions
    example.disagreement = _number(record, "disagreement", 0.0)
    example.uncertainty = _number(record, "uncertainty", 0.0)


def _example_from_line(line: str) -> TrainingExample:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _LineError(f"not valid JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(record, dict):
        raise _LineError("not a JSON object.")
    _check_storable(record, line)
    try:
        grade = label_validate({name: record.get(name) for name in LABEL_FIELDS if name in record}, field="")
        example = TrainingExample(
            question=_string(record, "question"),
            answer=_string(record, "answer"),
            expected_concepts=_string_list(record, "expected_concepts"),
            keywords=_string_list(record, "keywords"),
            category=_string(record, "category", "technical"),
            difficulty=_string(record, "difficulty", "mid"),
            role=_string(record, "role"),
            language=_string(record, "language", "es"),
            label=grade.model_dump(),
            score=grade.score,
            source=_string(record, "evaluation_source", TrainingExample.Source.LLM),
            model=_string(record, "model_used"),
            prompt_version=_string(record, "prompt_version"),
            review_status=_string(record, "review_status", TrainingExample.ReviewStatus.PENDING),
            review_note=_string(record, "review_note"),
            created_at=_created_at(record.get("created_at")),
        )
        snapshot_validate(
            question=example.question,
            answer=example.answer,
            category=example.category,
            difficulty=example.difficulty,
            language=example.language,
            source=example.source,
        )
        if example.review_status not in REVIEW_STATUSES:
            raise _LineError(f"unknown review_status {example.review_status!r}.")
        if record.get("original_label") is not None:
            example.original_label = label_validate(record["original_label"], field="original_label").model_dump()
            example.original_score = example.original_label["score"]
        _review_fields_read(example, record)
    except InvalidInput as exc:
        raise _LineError(str(exc)) from None
    _check_lengths(example)
    example.content_hash = content_hash(question=example.question, answer=example.answer)
    return example


# What any string of a line that `texts_problem` refuses must show in the line's own text: an escape that can
# decode to a control character or a surrogate (\\u, \\b, \\f), such a character itself, or a string
# of white space only. A line without any of them (nearly every line) skips the walk through its record.
_MAYBE_UNSTORABLE = re.compile(
    r'\\[ubf]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]|"(?:[\s\u200b-\u200d\u2060\ufeff]|\\[nrt])+"'
)


def _check_storable(record: dict[str, Any], line: str) -> None:
    """The API's text rules, so a line the database would refuse (NUL, a lone surrogate) is reported as a bad
    line here rather than failing its whole batch at insert time."""
    if _MAYBE_UNSTORABLE.search(line) and (found := texts_problem(record)):
        path, problem = found
        raise _LineError(f"{path or 'a field name'} {problem}.")
    for name in ("question", "answer"):
        value = record.get(name)
        if isinstance(value, str) and (problem := text_problem(value)):
            raise _LineError(f"{name} {problem}.")


def _check_lengths(example: TrainingExample) -> None:
    for model_field in TrainingExample._meta.concrete_fields:
        limit = getattr(model_field, "max_length", None)
        value = getattr(example, model_field.attname)
        if limit and isinstance(value, str) and len(value) > limit:
            raise _LineError(f"{model_field.name} must be at most {limit} characters (got {len(value)}).")


def _insert(batch: dict[str, TrainingExample], report: ImportReport) -> None:
    with transaction.atomic():
        existing = set(
            TrainingExample.objects.filter(content_hash__in=list(batch)).values_list("content_hash", flat=True)
        )
        new = [example for digest, example in batch.items() if digest not in existing]
        _rows_insert(new)
    report.duplicates += len(existing)
    report.imported += len(new)


def _rows_insert(examples: list[TrainingExample]) -> None:
    """What `bulk_create(examples, ignore_conflicts=True)` stores, in one `executemany`: bulk_create compiles
    a statement of a few dozen rows at a time, field by field, and that cost most of an import's time. The
    fields still prepare every value, exactly as bulk_create has them do.

    Ignoring conflicts keeps a row that another process collected since the duplicate check from failing
    the batch; that rare row is then counted as imported rather than as a duplicate."""
    if not examples:
        return
    connection = connections[router.db_for_write(TrainingExample)]
    ops, meta = connection.ops, TrainingExample._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key and not field.generated]
    sql = " ".join(
        part
        for part in (
            ops.insert_statement(on_conflict=OnConflict.IGNORE),
            ops.quote_name(meta.db_table),
            f"({', '.join(ops.quote_name(field.column) for field in fields)})",
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None),
        )
        if part
    )
    values = [
        tuple(field.get_db_prep_save(field.pre_save(example, True), connection) for field in fields)
        for example in examples
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def examples_import(
    *,
    lines: Iterable[str | bytes],
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import examples from JSONL lines as pending examples; never stops on a bad line.

    Duplicates (within the file or of stored examples) and invalid lines are counted and reported with
    their line numbers. Rows are inserted in batches, each in its own transaction, so memory stays flat
    and an interrupted import keeps what it has stored. The collection settings do not apply: an import
    is an explicit decision to keep these examples.
    """
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1.", field="batch_size")
    report = ImportReport()
    batch: dict[str, TrainingExample] = {}
    for line_number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            report.lines += 1
            report.add_error(line_number, f"not UTF-8 text ({exc.reason}).")
            continue
        if not line.strip():
            continue
        report.lines += 1
        try:
            example = _example_from_line(line)
        except _LineError as exc:
            report.add_error(line_number, str(exc))
            continue
        if example.content_hash in batch:
            report.duplicates += 1
            continue
        batch[example.content_hash] = example
        if len(batch) >= batch_size:
            _insert(batch, report)
            batch = {}
            if on_progress:
                on_progress(report)
    if batch:
        _insert(batch, report)
    if on_progress:
        on_progress(report)
    return report


def example_record(example: TrainingExample, *, fmt: str = "full") -> dict[str, Any]:
    """One example as a line: every field (`full`), or only the original collector's (`legacy`)."""
    label = example.label
    record: dict[str, Any] = {
        "question": example.question,
        "answer": example.answer,
        "expected_concepts": example.expected_concepts,
        "keywords": example.keywords,
        "category": example.category,
        "difficulty": example.difficulty,
        "role": example.role,
        "score": example.score,
        "breakdown": label.get("breakdown"),
        "justification": label.get("justification", ""),
        "strengths": label.get("strengths", []),
        "improvements": label.get("improvements", []),
        "concepts_covered": label.get("concepts_covered", []),
        "missing_concepts": label.get("missing_concepts", []),
        "evaluation_source": example.source,
        "model_used": example.model,
        "created_at": example.created_at.isoformat(),
    }
    if fmt == "full":
        record.update(
            language=example.language,
            prompt_version=example.prompt_version,
            review_status=example.review_status,
            review_note=example.review_note,
            reviewed_by=example.reviewed_by.get_username() if example.reviewed_by else None,
            reviewed_at=example.reviewed_at.isoformat() if example.reviewed_at else None,
            decided_automatically=example.decided_automatically,
            original_label=example.original_label,
            original_score=example.original_score,
            opinions=example.opinions,
            disagreement=example.disagreement,
            uncertainty=example.uncertainty,
        )
    return record


def examples_export_jsonl(
    *,
    out: TextIO,
    examples: QuerySet[TrainingExample] | None = None,
    fmt: str = "full",
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
) -> int:
    """Stream examples (default: all, oldest first) to `out` as JSONL in `fmt` (EXPORT_FORMATS); returns how
    many were written."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.", field="format")
    examples = TrainingExample.objects.all() if examples is None else examples
    written = 0
    ordered = examples.select_related("reviewed_by").order_by("created_at", "id")
    for example in ordered.iterator(chunk_size=2000):
        out.write(json.dumps(example_record(example, fmt=fmt), ensure_ascii=False) + "\n")
        written += 1
        if on_progress and written % progress_every == 0:
            on_progress(written)
    if on_progress:
        on_progress(written)
    return written
