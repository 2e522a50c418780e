"""The Ollama management client against a real loopback server speaking Ollama's blob/create/show/delete API."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from evaluation.llm.clients import LLMResponseError, LLMUnavailable, OllamaClient
from evaluation.llm.ollama_admin import ModelNotFound, OllamaAdminClient, file_digest
from tests.llm_servers import DEFAULT_MODEL, FakeOllamaServer, closed_port_url


def admin(server: FakeOllamaServer, **kwargs) -> OllamaAdminClient:
    return OllamaAdminClient(base_url=server.base_url, timeout=5.0, max_retries=0, backoff=0.0, **kwargs)


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "grader.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 9000)  # ~2.3 MB: more than one upload chunk
    return path


def sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_list_models_reads_the_tags(ollama_server: FakeOllamaServer) -> None:
    with admin(ollama_server) as client:
        models = client.list_models()
    assert [model.name for model in models] == [DEFAULT_MODEL]
    assert models[0].size > 0 and models[0].details["quantization_level"] == "Q4_K_M"


def test_blob_is_uploaded_once_under_its_sha256_digest(ollama_server: FakeOllamaServer, gguf: Path) -> None:
    sent: list[int] = []
    with admin(ollama_server) as client:
        assert file_digest(gguf) == sha(gguf)
        assert client.blob_exists(sha(gguf)) is False
        first = client.push_blob(gguf, on_progress=sent.append)
        second = client.push_blob(gguf)
    assert first.uploaded and first.digest == sha(gguf) and first.size == gguf.stat().st_size
    assert sent[-1] == gguf.stat().st_size and len(sent) == 3  # 1 MiB chunks
    assert second.uploaded is False  # HEAD said the server has it: no second upload
    assert ollama_server.blobs == {sha(gguf): gguf.read_bytes()}
    methods = [(r.method, r.path) for r in ollama_server.requests]
    assert methods == [
        ("HEAD", f"/api/blobs/{sha(gguf)}"),
        ("HEAD", f"/api/blobs/{sha(gguf)}"),
        ("POST", f"/api/blobs/{sha(gguf)}"),
        ("HEAD", f"/api/blobs/{sha(gguf)}"),
    ]
    upload = ollama_server.requests[2]
    assert upload.headers["content-length"] == str(gguf.stat().st_size)  # sized like `curl -T`, not chunked


def test_a_blob_whose_bytes_do_not_match_the_digest_is_refused(ollama_server: FakeOllamaServer, gguf: Path) -> None:
    wrong = "sha256:" + "0" * 64
    with admin(ollama_server) as client, pytest.raises(LLMResponseError, match="digest mismatch"):
        client.push_blob(gguf, digest=wrong)
    assert ollama_server.blobs == {}


def test_create_from_an_uploaded_gguf_then_the_model_is_listed_and_answers(
    ollama_server: FakeOllamaServer, gguf: Path
) -> None:
    with admin(ollama_server) as client:
        blob = client.push_blob(gguf)
        client.create(
            model="ready4hire:v1",
            files={"grader.gguf": blob.digest},
            system="Grade answers.",
            parameters={"temperature": 0.1, "stop": ["<|eot_id|>"]},
            messages=[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "{}"}],
            license="MIT",
        )
        assert "ready4hire:v1" in [model.name for model in client.list_models()]
        shown = client.show("ready4hire:v1")
    body = ollama_server.create_requests[-1].body
    assert body == {
        "model": "ready4hire:v1",
        "files": {"grader.gguf": blob.digest},
        "system": "Grade answers.",
        "parameters": {"temperature": 0.1, "stop": ["<|eot_id|>"]},
        "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "{}"}],
        "license": "MIT",
        "stream": False,
    }
    assert shown["system"] == "Grade answers." and 'stop                           "<|eot_id|>"' in shown["parameters"]
    assert 'SYSTEM """Grade answers."""' in shown["modelfile"] and shown["license"] == "MIT"
    with OllamaClient(base_url=ollama_server.base_url, model="ready4hire:v1", max_retries=0) as chat:
        reply = chat.chat([{"role": "user", "content": "hi"}], schema={"type": "object"})
    assert json.loads(reply.content)["score"] >= 0 and reply.model == "ready4hire:v1"


def test_create_refuses_digests_that_were_never_uploaded(ollama_server: FakeOllamaServer) -> None:
    missing = "sha256:" + "a" * 64
    with admin(ollama_server) as client, pytest.raises(LLMResponseError, match="blob not found for model.gguf"):
        client.create(model="ready4hire:v1", files={"model.gguf": missing})
    with admin(ollama_server) as client, pytest.raises(LLMResponseError, match="blob not found for adapter"):
        client.create(model="ready4hire:v1", from_=DEFAULT_MODEL, adapters={"adapter.gguf": missing})
    assert "ready4hire:v1" not in ollama_server.models


def test_create_from_a_model_name_with_an_adapter(ollama_server: FakeOllamaServer, gguf: Path) -> None:
    with admin(ollama_server) as client:
        adapter = client.push_blob(gguf)
        client.create(model="graded", from_=DEFAULT_MODEL, adapters={"adapter.gguf": adapter.digest})
        assert "graded:latest" in [model.name for model in client.list_models()]  # an untagged name is :latest
        assert client.show("graded")["details"]["parent_model"] == DEFAULT_MODEL


def test_show_and_delete_of_an_unknown_model_are_not_found(ollama_server: FakeOllamaServer) -> None:
    with admin(ollama_server) as client:
        with pytest.raises(ModelNotFound, match="model 'nope' not found"):
            client.show("nope")
        with pytest.raises(ModelNotFound):
            client.delete("nope")
        client.delete(DEFAULT_MODEL)
        assert client.list_models() == []
    delete = [r for r in ollama_server.requests if r.method == "DELETE"][-1]
    assert delete.path == "/api/delete" and delete.body == {"model": DEFAULT_MODEL}


def test_an_unreachable_server_is_unavailable_after_the_retries() -> None:
    sleeps: list[float] = []
    client = OllamaAdminClient(base_url=closed_port_url(), max_retries=2, backoff=0.25, sleep=sleeps.append)
    with client, pytest.raises(LLMUnavailable, match="failed after 3 attempts"):
        client.list_models()
    assert sleeps == [0.25, 0.5]


def test_a_retried_upload_sends_the_whole_file_again(tmp_path: Path) -> None:
    """The first POST fails with a 5xx; the retry must re-read the file, not send an exhausted stream."""
    path = tmp_path / "adapter.gguf"
    path.write_bytes(b"x" * 3000)
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(404)
        bodies.append(request.read())
        return httpx.Response(500 if len(bodies) == 1 else 201)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = OllamaAdminClient(base_url="http://ollama.test", max_retries=1, backoff=0.0, http=http)
    assert client.push_blob(path).uploaded
    assert bodies == [b"x" * 3000, b"x" * 3000]
