"""Loading the built-in question bank: complete, idempotent, all-or-nothing; and the command around it."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import Question
from evaluation.question_bank import (
    DEFAULT_QUESTION_BANK_PATH,
    QuestionBankError,
    QuestionLoadSummary,
    question_bank_load,
)

from .factories import QuestionFactory

pytestmark = pytest.mark.django_db

BANK = json.loads(DEFAULT_QUESTION_BANK_PATH.read_text(encoding="utf-8"))


def entry(**overrides) -> dict:
    fields = {
        "key": "qa-smoke-tests-en",
        "text": "What is a smoke test?",
        "language": "en",
        "category": "technical",
        "difficulty": "junior",
        "role": "QA Engineer",
        "expected_concepts": ["critical paths", "fast", "after deployment"],
        "keywords": ["smoke", "build", "sanity"],
        "reference_answer": "A quick check that the most important paths work after a deployment.",
    }
    fields.update(overrides)
    return fields


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "questions.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_bank_loads_a_varied_catalogue():
    summary = question_bank_load()

    assert summary == QuestionLoadSummary(created=len(BANK), updated=0, unchanged=0)
    assert Question.objects.count() == len(BANK) >= 40
    languages = list(Question.objects.values_list("language", flat=True))
    assert set(languages) == {"es", "en"}
    assert abs(languages.count("es") - languages.count("en")) <= len(languages) // 5
    assert set(Question.objects.values_list("category", flat=True)) == {"technical", "soft_skills"}
    assert set(Question.objects.values_list("difficulty", flat=True)) == {"junior", "mid", "senior"}
    assert len(set(Question.objects.values_list("role", flat=True))) >= 4
    stored = Question.objects.get(key="backend-indice-compuesto-es")
    assert stored.expected_concepts[0] == "índice compuesto"
    assert stored.reference_answer.startswith("Un índice compuesto")


def test_every_bank_entry_is_complete():
    for question in BANK:
        assert 3 <= len(question["expected_concepts"]) <= 6, question["key"]
        assert 3 <= len(question["keywords"]) <= 8, question["key"]
        assert 80 <= len(question["reference_answer"].split()) <= 200, question["key"]
        assert question["role"] and question["text"].strip(), question["key"]
        assert question["key"].endswith(f"-{question['language']}"), question["key"]


def test_loading_again_changes_nothing():
    question_bank_load()
    first_update = Question.objects.order_by("pk").values_list("updated_at", flat=True)[0]

    summary = question_bank_load()

    assert summary == QuestionLoadSummary(created=0, updated=0, unchanged=len(BANK))
    assert Question.objects.count() == len(BANK)
    assert Question.objects.order_by("pk").values_list("updated_at", flat=True)[0] == first_update


def test_an_edited_entry_is_updated_in_place(tmp_path):
    question_bank_load(path=write(tmp_path, [entry()]))
    original = Question.objects.get()

    summary = question_bank_load(path=write(tmp_path, [entry(difficulty="mid", keywords=["smoke", "build"])]))

    assert summary == QuestionLoadSummary(created=0, updated=1, unchanged=0)
    edited = Question.objects.get()
    assert edited.pk == original.pk
    assert (edited.difficulty, edited.keywords) == ("mid", ["smoke", "build"])


def test_questions_not_in_the_file_are_left_alone(tmp_path):
    QuestionFactory(key="custom-question-es", text="¿Por qué?", language="es")

    question_bank_load(path=write(tmp_path, [entry()]))

    assert Question.objects.filter(key="custom-question-es").exists()


@pytest.mark.parametrize(
    "bad,expected",
    [
        (entry(difficulty="expert"), ["qa-smoke-tests-en", "difficulty"]),
        (entry(language="fr"), ["qa-smoke-tests-en", "language"]),
        (entry(key="not a slug"), ["not a slug", "key"]),
        (entry(text=""), ["qa-smoke-tests-en", "text"]),
        (entry(expected_concepts="GIL, threads"), ["qa-smoke-tests-en", "expected_concepts"]),
        (entry(keywords=["ok", 3]), ["qa-smoke-tests-en", "keywords"]),
        (entry(reference_answer=None), ["qa-smoke-tests-en", "reference_answer"]),
        (entry(keyword=["typo"]), ["qa-smoke-tests-en", "keyword", "unknown"]),
        ({k: v for k, v in entry().items() if k != "category"}, ["qa-smoke-tests-en", "category", "missing"]),
        ({k: v for k, v in entry().items() if k != "key"}, ["entry #3", "key", "missing"]),
        (entry(key="backend-python-gil-en"), ["backend-python-gil-en", "key", "duplicated"]),
        ("just a string", ["entry #3", "object"]),
    ],
)
def test_a_bad_entry_rejects_the_whole_file(tmp_path, bad, expected):
    path = write(tmp_path, [BANK[0], BANK[1], bad])

    with pytest.raises(QuestionBankError) as error:
        question_bank_load(path=path)

    for fragment in expected:
        assert fragment in str(error.value)
    assert Question.objects.count() == 0


@pytest.mark.parametrize(
    "content,expected",
    [
        ('[{"key": "a",', "invalid JSON at line 1"),
        ('{"questions": []}', "expected a JSON list"),
    ],
)
def test_an_unreadable_file_is_rejected(tmp_path, content, expected):
    path = tmp_path / "questions.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(QuestionBankError, match=expected):
        question_bank_load(path=path)
    with pytest.raises(QuestionBankError, match="cannot read"):
        question_bank_load(path=tmp_path / "missing.json")


def test_command_loads_the_bank_and_reports_counts():
    out = StringIO()
    call_command("load_questions", stdout=out)
    assert out.getvalue().strip() == f"Loaded {len(BANK)} questions: {len(BANK)} created, 0 updated, 0 unchanged"

    out = StringIO()
    call_command("load_questions", stdout=out)
    assert out.getvalue().strip() == f"Loaded {len(BANK)} questions: 0 created, 0 updated, {len(BANK)} unchanged"


def test_command_loads_another_file(tmp_path):
    out = StringIO()
    call_command("load_questions", "--file", str(write(tmp_path, [entry()])), stdout=out)

    assert out.getvalue().strip() == "Loaded 1 question: 1 created, 0 updated, 0 unchanged"
    assert Question.objects.get().key == "qa-smoke-tests-en"


def test_command_reports_a_bad_file_as_an_error(tmp_path):
    path = write(tmp_path, [entry(), entry(key="qa-other-en", category="hard_skills")])

    with pytest.raises(CommandError) as error:
        call_command("load_questions", "--file", str(path))

    assert error.value.returncode == 1
    assert "qa-other-en" in str(error.value) and "category" in str(error.value)
    assert Question.objects.count() == 0
