"""The built-in question bank: load `data/questions.json` (or another file of the same shape) into `Question`.

Loading is idempotent: rows are matched on `key`, so running it again updates edited entries and leaves the
rest alone. The whole file is validated before anything is written, and the writes share one transaction,
so a bad file never leaves the catalogue half-loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Question

DEFAULT_QUESTION_BANK_PATH = Path(__file__).resolve().parent / "data" / "questions.json"

_TEXT_FIELDS = ("text", "language", "category", "difficulty", "role", "reference_answer")
_LIST_FIELDS = ("expected_concepts", "keywords")
_REQUIRED_FIELDS = ("key", "text", "language", "category", "difficulty")
_KNOWN_FIELDS = frozenset(("key", *_TEXT_FIELDS, *_LIST_FIELDS))


class QuestionBankError(ValueError):
    """The question file cannot be loaded. The message names the file, the entry and the field."""


@dataclass(frozen=True)
class QuestionLoadSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def _read_entries(path: Path) -> list[Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QuestionBankError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise QuestionBankError(f"{path}: the file is not UTF-8 text") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise QuestionBankError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, list):
        raise QuestionBankError(f"{path}: expected a JSON list of questions, got a {type(data).__name__}")
    return data


def _clean_entry(entry: Any, *, index: int, path: Path) -> dict[str, Any]:
    """One entry, checked field by field and normalised; `QuestionBankError` on the first problem."""
    label = f"entry #{index + 1}"
    if isinstance(entry, dict) and isinstance(entry.get("key"), str) and entry["key"].strip():
        label = f"entry '{entry['key'].strip()}'"

    def fail(field: str, problem: str) -> QuestionBankError:
        return QuestionBankError(f"{path}: {label}, field '{field}': {problem}")

    if not isinstance(entry, dict):
        raise QuestionBankError(f"{path}: {label}: expected an object, got a {type(entry).__name__}")
    unknown = sorted(set(entry) - _KNOWN_FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field (allowed: {', '.join(sorted(_KNOWN_FIELDS))})")
    for field in _REQUIRED_FIELDS:
        if field not in entry:
            raise fail(field, "missing")

    cleaned: dict[str, Any] = {}
    for field in ("key", *_TEXT_FIELDS):
        value = entry.get(field, "")
        if not isinstance(value, str):
            raise fail(field, f"expected a string, got {json.dumps(value)[:60]}")
        cleaned[field] = value.strip()
    for field in _LIST_FIELDS:
        values = entry.get(field, [])
        if not isinstance(values, list) or not all(isinstance(item, str) and item.strip() for item in values):
            raise fail(field, "expected a list of non-empty strings")
        cleaned[field] = [" ".join(item.split()) for item in values]

    # The model's own validators check what the database will enforce: slug format, lengths, choices.
    try:
        Question(**cleaned).full_clean(validate_unique=False)
    except ValidationError as exc:
        field, messages = next(iter(sorted(exc.message_dict.items())))
        raise fail(field, " ".join(messages)) from None
    return cleaned


def _clean_entries(entries: list[Any], *, path: Path) -> list[dict[str, Any]]:
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        question = _clean_entry(entry, index=index, path=path)
        if question["key"] in seen:
            raise QuestionBankError(f"{path}: entry '{question['key']}', field 'key': duplicated in the file")
        seen.add(question["key"])
        cleaned.append(question)
    return cleaned


def question_bank_load(*, path: Path | None = None) -> QuestionLoadSummary:
    """Create or update a `Question` per entry of `path` (the built-in bank by default), matched on `key`.

    Questions in the database but not in the file are left alone: the bank adds to the catalogue, it does
    not own it.
    """
    source = Path(path) if path is not None else DEFAULT_QUESTION_BANK_PATH
    questions = _clean_entries(_read_entries(source), path=source)

    created = updated = unchanged = 0
    with transaction.atomic():
        existing = Question.objects.select_for_update().in_bulk([q["key"] for q in questions], field_name="key")
        for question in questions:
            values = {field: value for field, value in question.items() if field != "key"}
            current = existing.get(question["key"])
            if current is not None and all(getattr(current, field) == value for field, value in values.items()):
                unchanged += 1
                continue
            _, was_created = Question.objects.update_or_create(key=question["key"], defaults=values)
            if was_created:
                created += 1
            else:
                updated += 1
    return QuestionLoadSummary(created=created, updated=updated, unchanged=unchanged)
