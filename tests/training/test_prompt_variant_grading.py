"""Live grading sends a version the prompt it was trained with: a request routed (or asked by name) to a
compact version reaches the LLM server with the compact system prompt, through every path (the sync service,
a queued row graded by a worker, a batch, the async API), and the grade records it in its prompt version."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from evaluation.batch_grading import GradingItem, evaluation_grade_many
from evaluation.llm.cache import grading_cache_key
from evaluation.llm.prompts import build_system_prompt
from evaluation.llm.schema import PROMPT_VERSION, GradingRequest
from evaluation.models import Evaluation
from evaluation.services import evaluation_create, evaluation_run, evaluation_submit
from tests.llm_servers import FakeOllamaServer
from training.services import model_version_promote, model_version_register

from .factories import DatasetExportFactory

pytestmark = pytest.mark.django_db

DEFAULT = "llama3.2:3b"
TUNED = "ready4hire-ft:v1"
COMPACT = build_system_prompt("en", "compact")
FULL = build_system_prompt("en")


def request(answer: str = "An index is a B-tree that finds rows without a full scan.") -> GradingRequest:
    return GradingRequest.normalised(
        question="What is a database index?",
        answer=answer,
        expected_concepts=["B-tree", "full scan"],
        category="technical",
        language="en",
    )


@pytest.fixture
def server(settings):
    with FakeOllamaServer(models=(DEFAULT, TUNED)) as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_MODEL = DEFAULT
        settings.LLM_RETRY_BACKOFF = 0
        yield server


@pytest.fixture
def compact_version(media_root):
    export = DatasetExportFactory(prompt_variant="compact")
    version = model_version_register(served_name=TUNED, dataset_export=export)
    return model_version_promote(version=version, category="technical")


def systems_sent(server) -> list[tuple[str, str]]:
    """(model, system prompt) of every chat request the server received."""
    return [(r.body["model"], r.body["messages"][0]["content"]) for r in server.chat_requests]


def test_a_grade_routed_to_a_compact_version_sends_it_the_compact_prompt(server, compact_version):
    routed = evaluation_submit(request=request())
    asked = evaluation_submit(request=request("Another answer about B-trees."), requested_model=DEFAULT)

    assert systems_sent(server) == [(TUNED, COMPACT), (DEFAULT, FULL)]
    assert routed.source == Evaluation.Source.LLM and routed.model == TUNED
    assert routed.prompt_version == f"{PROMPT_VERSION}+compact" and asked.prompt_version == PROMPT_VERSION


def test_a_compact_version_asked_for_by_name_gets_the_compact_prompt(server, compact_version):
    compact_version.status = "created"
    compact_version.save(update_fields=["status"])  # no longer routed: only asked for
    evaluation_submit(request=request(), requested_model=TUNED)
    evaluation_submit(request=request("Another answer."), requested_model=f"{compact_version.reference}")
    assert systems_sent(server) == [(TUNED, COMPACT), (TUNED, COMPACT)]


def test_a_queued_row_graded_by_a_worker_sends_the_prompt_recorded_when_it_was_stored(server, compact_version):
    evaluation = evaluation_create(request=request(), wait=False)
    evaluation_run(evaluation_id=evaluation.pk)
    assert systems_sent(server) == [(TUNED, COMPACT)]


def test_a_batch_sends_each_row_its_models_prompt(server, compact_version):
    items = [GradingItem(request=request()), GradingItem(request=request("Other words."), requested_model=DEFAULT)]
    results = evaluation_grade_many(items=items, concurrency=1)
    assert all(isinstance(result, Evaluation) for result in results)
    assert sorted(systems_sent(server)) == sorted([(TUNED, COMPACT), (DEFAULT, FULL)])


def test_the_async_api_sends_the_compact_prompt_as_the_sync_service_does(server, compact_version, api_key):
    body = {
        "question": "What is a database index?",
        "answer": "An index is a B-tree that finds rows without a full scan.",
        "expected_concepts": ["B-tree", "full scan"],
        "category": "technical",
        "language": "en",
    }
    response = async_to_sync(AsyncClient().post)(
        "/api/v1/evaluations",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code in (200, 201), response.content
    assert response.json()["prompt_version"] == f"{PROMPT_VERSION}+compact"
    assert systems_sent(server) == [(TUNED, COMPACT)]


def test_a_compact_grade_is_never_served_from_the_full_prompts_cache(server, compact_version):
    full_key = grading_cache_key(request=request(), model=TUNED, temperature=0.1)
    compact_key = grading_cache_key(request=request(), model=TUNED, temperature=0.1, prompt_variant="compact")
    assert full_key != compact_key
    # The full prompt's key is the one every grade made before variants has.
    assert full_key == grading_cache_key(request=request(), model=TUNED, temperature=0.1, prompt_variant="full")

    first = evaluation_submit(request=request())
    again = evaluation_submit(request=request())
    assert again.from_cache and again.cache_key == first.cache_key
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_compact_prompt_is_short_and_still_says_every_delimited_field_is_data(language):
    compact, full = build_system_prompt(language, "compact"), build_system_prompt(language)
    assert all(
        f"<{tag}>" in compact for tag in ("role", "expected_concepts", "keywords", "question", "candidate_answer")
    )
    assert "JSON" in compact and '"properties"' not in compact and "completeness" not in compact
    assert len(compact.encode()) < 300 < 2900 < len(full.encode())
