"""grade_with_llm against real loopback LLM servers: ask, parse, one stricter re-ask, never raise."""

from __future__ import annotations

import pytest

from evaluation.llm.clients import BaseLLMClient, OllamaClient, OpenAICompatibleClient
from evaluation.llm.grader import grade_with_llm
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import BREAKDOWN_MAXIMA, GradingRequest
from tests.llm_servers import DEFAULT_MODEL, FakeLLMServer, FakeOllamaServer, closed_port_url, grade_for

REQUEST = GradingRequest.normalised(
    question="¿Qué es un índice en una base de datos?",
    answer="Un índice es una estructura, normalmente un árbol B, que acelera las búsquedas a costa de escrituras.",
    expected_concepts=["árbol B", "búsquedas", "escrituras", "selectividad"],
)


@pytest.fixture(params=["ollama", "openai"])
def server(request: pytest.FixtureRequest) -> FakeLLMServer:
    return request.getfixturevalue(f"{request.param}_server")


def client_for(server: FakeLLMServer) -> BaseLLMClient:
    client_class = OllamaClient if isinstance(server, FakeOllamaServer) else OpenAICompatibleClient
    return client_class(base_url=server.base_url, model=DEFAULT_MODEL, timeout=5.0, backoff=0.0)


def temperature_sent(server: FakeLLMServer, index: int) -> float:
    body = server.chat_requests[index].body
    return body["options"]["temperature"] if isinstance(server, FakeOllamaServer) else body["temperature"]


def test_a_valid_answer_is_graded_in_one_call(server: FakeLLMServer) -> None:
    with client_for(server) as client:
        outcome = grade_with_llm(client, REQUEST, temperature=0.1, num_predict=1024, seed=7)

    assert outcome.result is not None
    assert outcome.result.concepts_covered == ["árbol B", "búsquedas", "escrituras"]
    assert outcome.result.missing_concepts == ["selectividad"]
    assert outcome.result.score == grade_for(build_messages(REQUEST))["score"]
    assert (outcome.attempts, len(outcome.raw_outputs), outcome.errors) == (1, 1, [])
    assert outcome.model == DEFAULT_MODEL
    assert temperature_sent(server, 0) == 0.1


def test_invalid_json_is_re_asked_once_at_temperature_zero(server: FakeLLMServer) -> None:
    server.script("invalid_json", "valid")
    with client_for(server) as client:
        outcome = grade_with_llm(client, REQUEST, temperature=0.3)

    assert outcome.result is not None
    assert len(outcome.raw_outputs) == 2
    assert outcome.raw_outputs[0] == '{"score": 7,'
    assert outcome.attempts == 2
    assert len(outcome.errors) == 1 and "invalid JSON" in outcome.errors[0]

    first, second = (r.body["messages"] for r in server.chat_requests)
    assert first == build_messages(REQUEST)
    assert second[:2] == first
    assert second[2] == {"role": "assistant", "content": '{"score": 7,'}
    assert second[3]["role"] == "user"
    assert "no era válida" in second[3]["content"] and "invalid JSON" in second[3]["content"]
    assert (temperature_sent(server, 0), temperature_sent(server, 1)) == (0.3, 0.0)


def test_schema_mismatch_twice_gives_no_result_and_records_both_errors(server: FakeLLMServer) -> None:
    server.default_mode = "schema_invalid"
    with client_for(server) as client:
        outcome = grade_with_llm(client, REQUEST, temperature=0.1)

    assert outcome.result is None
    assert len(server.chat_requests) == 2, "exactly one re-ask"
    assert len(outcome.raw_outputs) == 2
    assert len(outcome.errors) == 2
    assert all("does not match the grade schema" in error for error in outcome.errors)
    assert "breakdown.technical_depth" in outcome.error


def test_out_of_range_numbers_are_clamped_and_reconciled(server: FakeLLMServer) -> None:
    server.script("out_of_range")
    with client_for(server) as client:
        outcome = grade_with_llm(client, REQUEST, temperature=0.1)

    assert outcome.result is not None
    assert outcome.result.score == 10.0
    breakdown = outcome.result.breakdown.model_dump()
    assert all(0 <= breakdown[name] <= top for name, top in BREAKDOWN_MAXIMA.items())
    assert round(sum(breakdown.values()), 2) == outcome.result.score
    assert len(server.chat_requests) == 1, "clamping is not a reason to re-ask"


def test_a_server_error_after_retries_gives_no_result(server: FakeLLMServer) -> None:
    server.default_mode = "error_500"
    with client_for(server) as client:
        outcome = grade_with_llm(client, REQUEST, temperature=0.1)

    assert outcome.result is None
    assert "HTTP 500" in outcome.error
    assert len(server.chat_requests) == 3


def test_a_server_that_is_down_gives_no_result_and_says_why() -> None:
    url = closed_port_url()
    with OllamaClient(base_url=url, model=DEFAULT_MODEL, max_retries=1, sleep=lambda s: None) as client:
        outcome = grade_with_llm(client, REQUEST, temperature=0.1)

    assert outcome.result is None
    assert outcome.raw_outputs == []
    assert url in outcome.error
    assert "ConnectError" in outcome.error


def test_a_failure_during_the_re_ask_keeps_the_first_output(server: FakeLLMServer) -> None:
    server.script("invalid_json", "garbage_envelope")
    with client_for(server) as client:
        outcome = grade_with_llm(client, REQUEST, temperature=0.1)

    assert outcome.result is None
    assert outcome.raw_outputs == ['{"score": 7,']
    assert len(outcome.errors) == 2
    assert "not JSON" in outcome.errors[1]
