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
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from evaluation.llm.schema import is_grade_dump
from ready4hire.errors import InvalidInput
from ready4hire.validation import text_problem, texts_problem

from ..models import TrainingExample
from ..text import content_hash
from .jsonl_insert import rows_insert, stored_hashes
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


def _review_fields_read(row: dict[str, Any], record: Mapping[str, Any], reviewers: dict[str, int | None]) -> None:
    """What the full export adds beyond the label and the review state: who reviewed and when, whether a
    program decided, the machine's original score, the other graders' opinions and their spread.
    `reviewers` remembers the user ids of the names already looked up."""
    row["reviewed_by_id"] = None
    if record.get("reviewed_by"):
        name = _string(record, "reviewed_by")
        if name not in reviewers:
            user_model = get_user_model()
            users = user_model.objects.filter(**{user_model.USERNAME_FIELD: name})
            reviewers[name] = users.values_list("pk", flat=True).first()
        row["reviewed_by_id"] = reviewers[name]
    row["reviewed_at"] = _created_at(record["reviewed_at"]) if record.get("reviewed_at") else None
    row["decided_automatically"] = record.get("decided_automatically") is True
    row["original_score"] = _number(record, "original_score", row["original_score"])
    opinions = record.get("opinions") or {}
    if not isinstance(opinions, dict) or not all(isinstance(v, int | float) for v in opinions.values()):
        raise _LineError("opinions must map grader names to scores.")
    row["opinions"] = opinions
    row["disagreement"] = _number(record, "disagreement", 0.0)
    row["uncertainty"] = _number(record, "uncertainty", 0.0)


def _grade_read(data: Any, *, field: str) -> dict[str, Any]:
    """The grade in `data` as the model dumps it. A grade that already is such a dump (every line an export
    wrote) is taken as it is: the model would return an equal dict with the same types."""
    if is_grade_dump(data):
        return data
    return label_validate(data, field=field).model_dump()


def _row_from_line(line: str, reviewers: dict[str, int | None]) -> dict[str, Any]:
    """The example a line holds, as its model fields' values by attname (the fields it does not name keep
    their defaults), checked as the model, the database and the API would check them."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _LineError(f"not valid JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(record, dict):
        raise _LineError("not a JSON object.")
    _check_storable(record, line)
    try:
        label = _grade_read({name: record.get(name) for name in LABEL_FIELDS if name in record}, field="")
        row: dict[str, Any] = {
            "question": _string(record, "question"),
            "answer": _string(record, "answer"),
            "expected_concepts": _string_list(record, "expected_concepts"),
            "keywords": _string_list(record, "keywords"),
            "category": _string(record, "category", "technical"),
            "difficulty": _string(record, "difficulty", "mid"),
            "role": _string(record, "role"),
            "language": _string(record, "language", "es"),
            "label": label,
            "score": label["score"],
            "source": _string(record, "evaluation_source", TrainingExample.Source.LLM),
            "model": _string(record, "model_used"),
            "prompt_version": _string(record, "prompt_version"),
            "review_status": _string(record, "review_status", TrainingExample.ReviewStatus.PENDING),
            "review_note": _string(record, "review_note"),
            "created_at": _created_at(record.get("created_at")),
            "original_label": None,
            "original_score": None,
        }
        snapshot_validate(
            question=row["question"],
            answer=row["answer"],
            category=row["category"],
            difficulty=row["difficulty"],
            language=row["language"],
            source=row["source"],
        )
        if row["review_status"] not in REVIEW_STATUSES:
            raise _LineError(f"unknown review_status {row['review_status']!r}.")
        if record.get("original_label") is not None:
            row["original_label"] = _grade_read(record["original_label"], field="original_label")
            row["original_score"] = row["original_label"]["score"]
        _review_fields_read(row, record, reviewers)
    except InvalidInput as exc:
        raise _LineError(str(exc)) from None
    _check_lengths(row)
    row["content_hash"] = content_hash(question=row["question"], answer=row["answer"])
    return row


# What any string of a line that `texts_problem` refuses must show in the line's own text: an escape that can
# decode to a control character or a surrogate (\\u, \\b, \\f), such a character itself, or a string that
# starts with white space, an invisible character or an escape (as any string of white space only does).
# A line without any of them (nearly every line) skips the walk through its record. Three patterns rather
# than one alternation: `re` skips to a literal first character at C speed but tries an alternation at
# every position; and a printable line has no control character or surrogate to look for.
_ESCAPE = re.compile(r"\\[ubf]")
_BLANK_START = re.compile(r'"[\s\u200b-\u200d\u2060\ufeff\\]')
_CONTROL_OR_SURROGATE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _maybe_unstorable(line: str) -> bool:
    return bool(
        _ESCAPE.search(line)
        or _BLANK_START.search(line)
        or (not line.rstrip("\r\n").isprintable() and _CONTROL_OR_SURROGATE.search(line))
    )


def _check_storable(record: dict[str, Any], line: str) -> None:
    """The API's text rules, so a line the database would refuse (NUL, a lone surrogate) is reported as a bad
    line here rather than failing its whole batch at insert time."""
    suspect = _maybe_unstorable(line)
    if suspect and (found := texts_problem(record)):
        path, problem = found
        raise _LineError(f"{path or 'a field name'} {problem}.")
    for name in ("question", "answer"):
        value = record.get(name)
        # Unless the line is suspect, its strings are storable and visible: only "" can be refused.
        if isinstance(value, str) and (suspect or not value) and (problem := text_problem(value)):
            raise _LineError(f"{name} {problem}.")


# The text columns with a length limit, in the model's order (the first too long is the one reported).
_LENGTH_LIMITS = tuple(
    (field.attname, field.name, field.max_length)
    for field in TrainingExample._meta.concrete_fields
    if getattr(field, "max_length", None)
)


def _check_lengths(row: dict[str, Any]) -> None:
    for attname, name, limit in _LENGTH_LIMITS:
        value = row.get(attname)
        if isinstance(value, str) and len(value) > limit:
            raise _LineError(f"{name} must be at most {limit} characters (got {len(value)}).")


def _insert(batch: dict[str, dict[str, Any]], report: ImportReport) -> None:
    with transaction.atomic():
        existing = stored_hashes(list(batch))
        new = [row for digest, row in batch.items() if digest not in existing]
        rows_insert(new)
    report.duplicates += len(existing)
    report.imported += len(new)


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
    batch: dict[str, dict[str, Any]] = {}  # the rows to insert, by content hash
    reviewers: dict[str, int | None] = {}  # the batch's reviewer names looked up so far
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
            row = _row_from_line(line, reviewers)
        except _LineError as exc:
            report.add_error(line_number, str(exc))
            continue
        if row["content_hash"] in batch:
            report.duplicates += 1
            continue
        batch[row["content_hash"]] = row
        if len(batch) >= batch_size:
            _insert(batch, report)
            batch, reviewers = {}, {}
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
