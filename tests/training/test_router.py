"""The router: live grading asks the LLM server for the active version of the request's category."""

from __future__ import annotations

import pytest

from evaluation.llm.schema import GradingRequest
from evaluation.services import evaluation_submit
from tests.llm_servers import FakeOllamaServer
from training.models import ModelVersion
from training.selectors import model_for_category
from training.services import model_version_promote, model_version_register, model_version_retire

pytestmark = pytest.mark.django_db

DEFAULT = "llama3.2:3b"


def request(category: str, answer: str = "Listening first, then agreeing on a plan with the team.") -> GradingRequest:
    return GradingRequest.normalised(
        question="How do you handle a disagreement with a colleague?",
        answer=answer,
        expected_concepts=["listening", "plan"],
        category=category,
        language="en",
    )


@pytest.fixture
def server(settings):
    with FakeOllamaServer(models=(DEFAULT, "r4h-soft:v1", "r4h-all:v1")) as server:
        settings.LLM_BACKEND = "ollama"
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_MODEL = DEFAULT
        settings.LLM_RETRY_BACKOFF = 0
        yield server


def active(served_name: str, category: str) -> ModelVersion:
    return model_version_promote(version=model_version_register(served_name=served_name), category=category)


def models_asked(server) -> list[str]:
    return [r.body["model"] for r in server.chat_requests]


def test_a_soft_skills_request_is_graded_by_the_active_soft_skills_version(server):
    active("r4h-soft:v1", "soft_skills")
    soft = evaluation_submit(request=request("soft_skills"))
    technical = evaluation_submit(request=request("technical"))
    assert models_asked(server) == ["r4h-soft:v1", DEFAULT]
    assert (soft.model, technical.model) == ("r4h-soft:v1", DEFAULT)


def test_a_category_without_its_own_version_uses_the_active_all_version(server):
    active("r4h-soft:v1", "soft_skills")
    active("r4h-all:v1", "all")
    evaluation_submit(request=request("technical"))
    evaluation_submit(request=request("soft_skills", answer="I ask questions and listen."))
    assert models_asked(server) == ["r4h-all:v1", "r4h-soft:v1"]


def test_a_model_asked_for_by_name_wins_over_the_router(server):
    active("r4h-soft:v1", "soft_skills")
    evaluation_submit(request=request("soft_skills"), requested_model=DEFAULT)
    assert models_asked(server) == [DEFAULT]


def test_retiring_the_active_version_sends_its_category_back_to_the_default(server):
    version = active("r4h-soft:v1", "soft_skills")
    model_version_retire(version=version)
    assert model_for_category("soft_skills") is None
    evaluation_submit(request=request("soft_skills"))
    assert models_asked(server) == [DEFAULT]


def test_the_cache_never_serves_one_models_grade_for_another(server):
    first = evaluation_submit(request=request("soft_skills"))
    active("r4h-soft:v1", "soft_skills")
    second = evaluation_submit(request=request("soft_skills"))
    assert first.cache_key != second.cache_key and not second.from_cache
    assert models_asked(server) == [DEFAULT, "r4h-soft:v1"]
