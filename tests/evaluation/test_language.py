"""`language` is detected from the question and answer when the caller leaves it out, and the response says
which language was used."""

from __future__ import annotations

import json

import pytest

from evaluation.llm.language import language_detect
from evaluation.models import Evaluation


@pytest.mark.parametrize(
    ("question", "answer", "expected"),
    [
        ("What is the GIL in Python?", "It is a lock that lets only one thread run bytecode at a time.", "en"),
        ("¿Qué es el GIL de Python?", "Es un cerrojo global de CPython.", "es"),
        ("Explain database indexes", "An index speeds up reads but slows down the writes.", "en"),
        ("Explica los índices", "Un índice acelera las lecturas pero hace más lentas las escrituras.", "es"),
        ("Tell me about a conflict with your team", "We had a disagreement about the design and we talked.", "en"),
        ("Háblame de un conflicto con tu equipo", "Tuvimos un desacuerdo sobre el diseño y lo hablamos.", "es"),
        ("GIL", "mutex", "es"),  # nothing tells them apart: the project's default
    ],
)
def test_language_detect(question, answer, expected):
    assert language_detect(question, answer) == expected


def grade(client, **body):
    request = {"question": "What is an index in a database?", "answer": "It is a B-tree that finds rows fast."}
    return client.post("/api/v1/evaluations", data=json.dumps({**request, **body}), content_type="application/json")


@pytest.mark.django_db
def test_an_english_request_without_a_language_is_graded_in_english(api_client):
    response = grade(api_client)
    assert response.status_code == 200 and response.json()["language"] == "en"
    evaluation = Evaluation.objects.get()
    assert evaluation.language == "en"
    # The heuristic writes its texts in the request's language.
    assert "answer" in json.dumps(response.json()["result"]).lower()


@pytest.mark.django_db
def test_a_spanish_request_without_a_language_is_graded_in_spanish(api_client):
    response = grade(api_client, question="¿Qué es un índice?", answer="Es un árbol B que encuentra las filas.")
    assert response.json()["language"] == "es"


@pytest.mark.django_db
def test_the_language_given_wins_over_detection(api_client):
    assert grade(api_client, language="es").json()["language"] == "es"
