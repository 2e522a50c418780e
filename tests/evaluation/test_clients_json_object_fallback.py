"""The OpenAI-compatible client against a server that refuses `json_schema` (llama-cpp-python 0.3.x): it
switches to `{type: json_object, schema}` once per server, remembers it, and never drops the schema."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from evaluation.llm.clients import JSON_OBJECT_SCHEMA_SERVERS, LLMResponseError, LLMUnavailable, OpenAICompatibleClient
from evaluation.llm.parsing import parse_grade
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import GradingRequest, grade_json_schema
from tests.llm_servers import DEFAULT_MODEL, FakeOpenAIServer

REQUEST = GradingRequest.normalised(
    question="What is a database index?",
    answer="A B-tree that finds rows without a full scan; it costs extra work on every write.",
    expected_concepts=["B-tree", "full scan", "write cost"],
    language="en",
)


@pytest.fixture
def llama_like_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(json_schema_refused=True) as server:
        yield server
        JSON_OBJECT_SCHEMA_SERVERS.discard(server.base_url)


def _client(server: FakeOpenAIServer, **options) -> OpenAICompatibleClient:
    return OpenAICompatibleClient(base_url=server.base_url, model=DEFAULT_MODEL, sleep=lambda _: None, **options)


def _formats(server: FakeOpenAIServer) -> list[str]:
    return [request.body["response_format"]["type"] for request in server.chat_requests]


def test_refused_json_schema_is_sent_again_as_json_object_with_the_schema(llama_like_server):
    with _client(llama_like_server) as client:
        result = client.chat(build_messages(REQUEST), schema=grade_json_schema())

    assert parse_grade(result.content).score > 0
    assert result.attempts == 2
    first, second = llama_like_server.chat_requests
    assert first.body["response_format"]["type"] == "json_schema"
    assert second.body["response_format"] == {"type": "json_object", "schema": grade_json_schema()}
    assert second.body["messages"] == first.body["messages"]


def test_the_server_is_remembered_by_every_client_and_thread(llama_like_server):
    with _client(llama_like_server) as client:
        client.chat(build_messages(REQUEST), schema=grade_json_schema())
    llama_like_server.clear_requests()

    def grade(_: int) -> float:
        with _client(llama_like_server) as client:
            return parse_grade(client.chat(build_messages(REQUEST), schema=grade_json_schema()).content).score

    with ThreadPoolExecutor(max_workers=4) as pool:
        scores = list(pool.map(grade, range(8)))

    assert len(set(scores)) == 1
    assert _formats(llama_like_server) == ["json_object"] * 8  # asked once, never again
    assert all(r.body["response_format"]["schema"] == grade_json_schema() for r in llama_like_server.chat_requests)


def test_a_server_that_takes_json_schema_keeps_getting_it(llama_like_server, openai_server):
    with _client(llama_like_server) as client:
        client.chat(build_messages(REQUEST), schema=grade_json_schema())
    with _client(openai_server) as client:
        client.chat(build_messages(REQUEST), schema=grade_json_schema())
        client.chat(build_messages(REQUEST), schema=grade_json_schema())

    assert _formats(openai_server) == ["json_schema", "json_schema"]


def test_an_ordinary_500_is_an_outage_retried_as_before_not_a_reason_to_switch(openai_server):
    openai_server.script("error_500", "error_500", "error_500")
    with _client(openai_server, max_retries=2) as client, pytest.raises(LLMUnavailable, match="after 3 attempts"):
        client.chat(build_messages(REQUEST), schema=grade_json_schema())

    assert _formats(openai_server) == ["json_schema"] * 3
    assert openai_server.base_url not in JSON_OBJECT_SCHEMA_SERVERS


def test_the_schema_is_never_dropped_when_the_json_object_form_fails_too(llama_like_server):
    llama_like_server.script("error_500", "error_500")  # the json_object attempts: the refusal is not scripted
    with _client(llama_like_server, max_retries=1) as client, pytest.raises(LLMUnavailable):
        client.chat(build_messages(REQUEST), schema=grade_json_schema())

    assert _formats(llama_like_server) == ["json_schema", "json_object", "json_object"]
    assert all(r.body["response_format"]["schema"] == grade_json_schema() for r in llama_like_server.chat_requests[1:])


def test_a_bad_request_about_response_format_stays_an_error(openai_server):
    """The server names response_format and json_schema, but not json_object as the way out: no switch."""
    with _client(openai_server) as client, pytest.raises(LLMResponseError, match="response_format"):
        client.chat(build_messages(REQUEST), schema=None)  # type: ignore[arg-type]  (not a schema object)

    assert openai_server.base_url not in JSON_OBJECT_SCHEMA_SERVERS
