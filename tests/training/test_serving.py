"""Serving a GGUF file with llama.cpp's OpenAI-compatible server: started on a free loopback port, graded
through our own client (which learns that this server wants `json_object` + schema), stopped on exit."""

from __future__ import annotations

import importlib.util
import os
import sys

import httpx
import pytest

from evaluation.llm.clients import JSON_OBJECT_SCHEMA_SERVERS, OpenAICompatibleClient
from evaluation.llm.parsing import extract_json_object
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import GradingRequest, grade_json_schema
from ready4hire.errors import InvalidInput
from training.finetune.deps import missing_train_packages
from training.services.serving import chat_format_for, serve_gguf

from ..conftest import service_missing


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    """A random-initialised tiny model as GGUF (what an --init-tiny run registers as its base)."""
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")
    if importlib.util.find_spec("llama_cpp") is None:
        service_missing("needs llama-cpp-python: CMAKE_ARGS=-DLLAVA_BUILD=OFF pip install -e '.[serve]'")
    from training.finetune.gguf_writer import convert_to_gguf
    from training.finetune.tiny import TinyShape, create_tiny_base

    directory = tmp_path_factory.mktemp("tiny")
    texts = [message["content"] for message in build_messages(REQUEST)] * 30
    create_tiny_base(texts, directory / "hf", shape=TinyShape(vocab_size=512), seed=1)
    return convert_to_gguf(directory / "hf", directory / "tiny.gguf", dtype="f16")


REQUEST = GradingRequest.normalised(
    question="¿Qué es un índice en una base de datos?",
    answer="Un árbol B que evita recorrer toda la tabla, a costa de escrituras más lentas.",
    expected_concepts=["árbol B", "recorrido completo", "coste de escritura"],
    language="es",
)


def test_a_gguf_is_served_graded_through_our_client_and_stopped(tiny_gguf):
    assert chat_format_for(tiny_gguf) == "chatml"
    with serve_gguf(str(tiny_gguf), alias="tiny-base") as served:
        assert served.base_url.startswith("http://127.0.0.1:")
        with OpenAICompatibleClient(base_url=served.base_url, model=served.model, max_retries=0) as client:
            assert client.health().ok
            result = client.chat(build_messages(REQUEST), schema=grade_json_schema(), temperature=0.0, num_predict=64)
            assert served.base_url in JSON_OBJECT_SCHEMA_SERVERS  # llama-cpp-python refused json_schema
            again = client.chat(build_messages(REQUEST), schema=grade_json_schema(), temperature=0.0, num_predict=64)
        # The schema constrains even a random model: what it wrote is the start of a grade object.
        assert result.content.lstrip().startswith("{") and again.attempts == 1
        if result.raw["choices"][0]["finish_reason"] == "stop":
            assert "score" in extract_json_object(result.content)
        pid = served.pid

    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.base_url}/v1/models", timeout=2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert served.base_url not in JSON_OBJECT_SCHEMA_SERVERS


def test_serving_without_llama_cpp_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(InvalidInput, match=r"pip install -e '\.\[serve\]'"), serve_gguf(str(tmp_path / "x.gguf")):
        pass


def test_serving_a_missing_file_is_refused(tiny_gguf, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"), serve_gguf(str(tmp_path / "missing.gguf")):
        pass
