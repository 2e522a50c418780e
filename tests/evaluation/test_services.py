"""evaluation_submit / evaluation_run: storing, idempotency, and the grade's shape whatever the LLM does."""

from __future__ import annotations

import pytest

from evaluation.llm.schema import BREAKDOWN_MAXIMA, PROMPT_VERSION, GradingRequest
from evaluation.models import Evaluation
from evaluation.services import api_key_create, evaluation_run, evaluation_submit
from ready4hire.errors import Conflict, InvalidInput
from tests.llm_servers import FakeOllamaServer, FakeOpenAIServer

pytestmark = pytest.mark.django_db

REQUEST = GradingRequest.normalised(
    question="¿Qué es un índice en una base de datos y cuándo conviene usarlo?",
    answer=(
        "Un índice es una estructura, normalmente un árbol B, que permite encontrar filas sin recorrer toda la "
        "tabla. Conviene en columnas muy consultadas en WHERE o JOIN, pero cada índice encarece las escrituras."
    ),
    expected_concepts=["árbol B", "consultas", "escrituras"],
    category="technical",
    difficulty="junior",
    language="es",
)


def configure(settings, server, backend):
    settings.LLM_BACKEND = backend
    settings.LLM_BASE_URL = server.base_url
    settings.LLM_MODEL = "llama3.2:3b"
    settings.LLM_RETRY_BACKOFF = 0


def test_submit_and_wait_stores_a_finished_grade():
    evaluation = evaluation_submit(request=REQUEST)
    evaluation.refresh_from_db()
    assert evaluation.status == Evaluation.Status.DONE
    assert evaluation.prompt_version == PROMPT_VERSION
    assert evaluation.question_text == REQUEST.question
    assert evaluation.expected_concepts == list(REQUEST.expected_concepts)
    assert evaluation.started_at <= evaluation.finished_at
    assert evaluation.latency_ms is not None


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_both_backends_grade_through_the_service(settings, backend):
    server_class = FakeOllamaServer if backend == "ollama" else FakeOpenAIServer
    with server_class() as server:
        configure(settings, server, backend)
        evaluation = evaluation_submit(request=REQUEST)
    assert evaluation.source == "llm"
    assert len(server.chat_requests) == 1


def test_out_of_range_llm_output_is_clamped_and_reconciled(settings):
    with FakeOllamaServer() as server:
        configure(settings, server, "ollama")
        server.script("out_of_range")
        evaluation = evaluation_submit(request=REQUEST)
    assert evaluation.source == "llm"
    assert 0 <= evaluation.score <= 10
    breakdown = evaluation.result["breakdown"]
    assert all(0 <= breakdown[name] <= top for name, top in BREAKDOWN_MAXIMA.items())
    assert sum(breakdown.values()) == pytest.approx(evaluation.score, abs=0.011)


def test_running_twice_grades_once(settings):
    with FakeOllamaServer() as server:
        configure(settings, server, "ollama")
        evaluation = evaluation_submit(request=REQUEST)
        again = evaluation_run(evaluation_id=evaluation.pk)
    assert len(server.chat_requests) == 1
    assert again.result == evaluation.result and again.finished_at == evaluation.finished_at


def test_a_queued_evaluation_is_pending_until_its_task_runs(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        evaluation = evaluation_submit(request=REQUEST, wait=False)
    assert Evaluation.objects.get(pk=evaluation.pk).status == Evaluation.Status.PENDING
    assert len(callbacks) == 1
    callbacks[0]()
    assert Evaluation.objects.get(pk=evaluation.pk).status == Evaluation.Status.DONE


def test_a_slow_llm_times_out_and_falls_back(settings):
    with FakeOllamaServer(slow_seconds=2) as server:
        configure(settings, server, "ollama")
        settings.LLM_TIMEOUT = 0.3
        settings.LLM_MAX_RETRIES = 1
        server.default_mode = "slow"
        evaluation = evaluation_submit(request=REQUEST)
    assert evaluation.source == "heuristic"
    assert "Timeout" in evaluation.error
    assert evaluation.result["missing_concepts"] is not None


def test_api_keys_are_stored_hashed_and_names_are_unique():
    key, raw = api_key_create(name="frontend")
    assert raw.startswith("r4h_") and raw not in key.key_hash
    with pytest.raises(Conflict):
        api_key_create(name="frontend")
    with pytest.raises(InvalidInput):
        api_key_create(name="  ")
