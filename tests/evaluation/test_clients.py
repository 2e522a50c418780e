"""Both LLM clients against real loopback servers speaking Ollama's and the OpenAI-compatible protocol."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from evaluation.llm.clients import BaseLLMClient, LLMResponseError, LLMUnavailable, OllamaClient, OpenAICompatibleClient
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import GradeResult, GradingRequest, grade_json_schema
from tests.llm_servers import DEFAULT_MODEL, FakeLLMServer, FakeOllamaServer, closed_port_url

REQUEST = GradingRequest.normalised(
    question="What does the GIL do in CPython?",
    answer="The GIL lets one thread run Python bytecode at a time, so threads help with I/O, not CPU work.",
    expected_concepts=["GIL", "threads", "multiprocessing"],
    language="en",
)


@pytest.fixture(params=["ollama", "openai"])
def server(request: pytest.FixtureRequest) -> FakeLLMServer:
    """Each test runs once per protocol."""
    return request.getfixturevalue(f"{request.param}_server")


def make_client(server: FakeLLMServer, **kwargs: Any) -> BaseLLMClient:
    client_class = OllamaClient if isinstance(server, FakeOllamaServer) else OpenAICompatibleClient
    options: dict[str, Any] = {"model": DEFAULT_MODEL, "timeout": 5.0, "max_retries": 2, "backoff": 0.0}
    return client_class(base_url=server.base_url, **{**options, **kwargs})


def chat(client: BaseLLMClient, **kwargs: Any) -> Any:
    return client.chat(build_messages(REQUEST), schema=grade_json_schema(), **kwargs)


def test_ollama_chat_sends_the_schema_options_and_no_stream(ollama_server: FakeLLMServer) -> None:
    with make_client(ollama_server) as client:
        reply = chat(client, temperature=0.2, num_predict=512, seed=42)

    [sent] = ollama_server.chat_requests
    assert sent.body["model"] == DEFAULT_MODEL
    assert sent.body["format"] == grade_json_schema()
    assert sent.body["options"] == {"temperature": 0.2, "num_predict": 512, "seed": 42}
    assert sent.body["stream"] is False
    assert sent.body["messages"] == build_messages(REQUEST)
    assert sent.headers["content-type"] == "application/json"
    assert reply.model == DEFAULT_MODEL
    assert reply.attempts == 1
    assert reply.raw["done"] is True


def test_ollama_chat_leaves_unset_options_out(ollama_server: FakeLLMServer) -> None:
    with make_client(ollama_server) as client:
        chat(client, temperature=0.0)

    assert ollama_server.chat_requests[0].body["options"] == {"temperature": 0.0}


def test_openai_chat_sends_a_strict_json_schema_response_format(openai_server: FakeLLMServer) -> None:
    with make_client(openai_server, api_key="sk-test") as client:
        reply = chat(client, temperature=0.2, num_predict=512, seed=42)

    [sent] = openai_server.chat_requests
    assert sent.body["model"] == DEFAULT_MODEL
    assert sent.body["response_format"]["type"] == "json_schema"
    assert sent.body["response_format"]["json_schema"]["schema"] == grade_json_schema()
    assert sent.body["response_format"]["json_schema"]["strict"] is True
    assert sent.body["response_format"]["json_schema"]["name"]
    assert (sent.body["temperature"], sent.body["max_tokens"], sent.body["seed"]) == (0.2, 512, 42)
    assert sent.body["stream"] is False
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert reply.model == DEFAULT_MODEL
    assert reply.raw["object"] == "chat.completion"


def test_openai_client_accepts_a_base_url_ending_in_v1(openai_server: FakeLLMServer) -> None:
    with OpenAICompatibleClient(base_url=f"{openai_server.base_url}/v1/", model=DEFAULT_MODEL) as client:
        chat(client)

    assert [r.path for r in openai_server.requests] == ["/v1/chat/completions"]


def test_chat_returns_the_model_content_as_text(server: FakeLLMServer) -> None:
    with make_client(server) as client:
        reply = chat(client)

    grade = GradeResult.model_validate_json(reply.content)
    assert grade.concepts_covered == ["GIL", "threads"]
    assert grade.missing_concepts == ["multiprocessing"]
    assert sum(grade.breakdown.model_dump().values()) == pytest.approx(grade.score)
    assert reply.latency_ms >= 0


def test_chat_retries_a_500_then_succeeds(server: FakeLLMServer) -> None:
    server.script("error_500")
    sleeps: list[float] = []
    with make_client(server, backoff=0.25, sleep=sleeps.append) as client:
        reply = chat(client)

    assert reply.attempts == 2
    assert sleeps == [0.25]
    assert len(server.chat_requests) == 2
    GradeResult.model_validate_json(reply.content)


def test_chat_backs_off_exponentially_and_gives_up_on_a_persistent_500(server: FakeLLMServer) -> None:
    server.default_mode = "error_500"
    sleeps: list[float] = []
    with make_client(server, max_retries=2, backoff=0.25, sleep=sleeps.append) as client:
        with pytest.raises(LLMUnavailable, match="after 3 attempts: HTTP 500"):
            chat(client)

    assert sleeps == [0.25, 0.5]
    assert len(server.chat_requests) == 3


def test_chat_on_a_refused_connection_is_unavailable() -> None:
    url = closed_port_url()
    with OllamaClient(base_url=url, model=DEFAULT_MODEL, max_retries=1, sleep=lambda s: None) as client:
        with pytest.raises(LLMUnavailable, match="after 2 attempts: ConnectError"):
            chat(client)


def test_chat_times_out_on_a_slow_server(server: FakeLLMServer) -> None:
    server.default_mode = "slow"
    server.slow_seconds = 1.0
    with make_client(server, timeout=0.3, max_retries=1) as client:
        with pytest.raises(LLMUnavailable, match="ReadTimeout"):
            chat(client)

    assert len(server.chat_requests) == 2


def test_a_slow_answer_within_the_timeout_is_fine(server: FakeLLMServer) -> None:
    server.script("slow")
    server.slow_seconds = 0.05
    with make_client(server, timeout=2.0) as client:
        assert chat(client).attempts == 1


def test_a_body_that_is_not_json_is_a_response_error(server: FakeLLMServer) -> None:
    server.script("garbage_envelope")
    with make_client(server) as client:
        with pytest.raises(LLMResponseError, match="not JSON"):
            chat(client)

    assert len(server.chat_requests) == 1, "a 200 is not retried"


def test_an_unknown_model_is_a_response_error_and_not_retried(server: FakeLLMServer) -> None:
    with make_client(server, model="mistral:7b") as client:
        with pytest.raises(LLMResponseError, match="HTTP 404.*mistral:7b"):
            chat(client)

    assert len(server.chat_requests) == 1


@pytest.mark.parametrize("mode", ["invalid_json", "schema_invalid", "out_of_range"])
def test_the_client_returns_bad_model_output_untouched(server: FakeLLMServer, mode: Any) -> None:
    # Judging the content is the parser's job; the client only checks the envelope.
    server.script(mode)
    with make_client(server) as client:
        reply = chat(client)

    assert reply.content
    assert reply.attempts == 1


def test_health_ok_lists_the_models(server: FakeLLMServer) -> None:
    with make_client(server) as client:
        health = client.health()

    assert (health.ok, health.detail, health.models) == (True, "ok", [DEFAULT_MODEL])
    assert [r.method for r in server.requests] == ["GET"]
    assert server.requests[0].path == server.models_path


@pytest.mark.parametrize("model", ["mistral:7b", "llama3.2"])
def test_health_reports_a_model_the_server_does_not_have(server: FakeLLMServer, model: str) -> None:
    # "llama3.2" means "llama3.2:latest" to Ollama: a server with only llama3.2:3b cannot serve it.
    with make_client(server, model=model) as client:
        health = client.health()
        with pytest.raises(LLMResponseError, match="404"):
            chat(client)

    assert health.ok is False
    assert model in health.detail
    assert health.models == [DEFAULT_MODEL]


def test_health_accepts_a_name_without_tag_when_latest_is_there() -> None:
    with FakeOllamaServer(models=("qwen2.5:latest",)) as server:
        with OllamaClient(base_url=server.base_url, model="qwen2.5") as client:
            assert client.health().ok is True
            chat(client)


def test_health_of_an_unreachable_server() -> None:
    with OpenAICompatibleClient(base_url=closed_port_url(), model=DEFAULT_MODEL) as client:
        health = client.health()

    assert health.ok is False
    assert health.detail.startswith("unreachable")


def test_one_client_serves_concurrent_grading_threads(server: FakeLLMServer) -> None:
    with make_client(server) as client, ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: chat(client), range(32)))

    assert all(GradeResult.model_validate_json(reply.content).score > 0 for reply in replies)
    assert len(server.chat_requests) == 32
