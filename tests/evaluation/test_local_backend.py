"""The `local` backend: a checkpoint on disk grades in this process through the servers' prompt, schema and
parsing. A random-initialised tiny model writes what the schema allows but never finishes a grade within a
small budget: that is recorded as invalid output, and grading falls back to the heuristic as for a server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from evaluation.llm.clients import CLIENTS
from evaluation.llm.constrained import SchemaAutomaton
from evaluation.llm.grader import grade_with_llm
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import GradingRequest, grade_json_schema
from training.finetune.deps import missing_packages

from ..conftest import service_missing

REQUEST = GradingRequest.normalised(
    question="What is the GIL in Python?",
    answer="A lock that lets one thread at a time run Python bytecode in CPython.",
    expected_concepts=["GIL", "threads"],
    language="en",
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    missing = missing_packages(("torch", "transformers", "tokenizers"))
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")
    from training.finetune.tiny import TinyShape, create_tiny_base

    texts = [message["content"] for message in build_messages(REQUEST)] * 3
    shape = TinyShape(vocab_size=400, hidden_size=32, intermediate_size=64, layers=1, heads=2, context=4096)
    return create_tiny_base(texts, tmp_path_factory.mktemp("tiny") / "base", shape=shape, seed=3)


def client(checkpoint: Path):
    return CLIENTS["local"](base_url=str(checkpoint), model="tiny-random", api_key="ignored", max_retries=5)


def test_a_random_checkpoint_writes_only_what_the_schema_allows(checkpoint):
    reply = client(checkpoint).chat(build_messages(REQUEST), schema=grade_json_schema(), num_predict=40, seed=1)

    automaton = SchemaAutomaton(grade_json_schema())
    assert reply.content.startswith('{"score":') and reply.model == "tiny-random" and reply.attempts == 1
    assert automaton.feed(automaton.start, reply.content.encode()) is not None  # a prefix of a valid grade


def test_its_unfinished_output_is_invalid_json_through_the_same_grader(checkpoint):
    outcome = grade_with_llm(client(checkpoint), REQUEST, temperature=0.1, num_predict=24, seed=1)

    assert outcome.result is None
    assert len(outcome.raw_outputs) == 2  # asked, then re-asked more strictly, as with a server
    assert all("invalid JSON" in error or "no JSON object" in error for error in outcome.errors)


@pytest.mark.django_db
def test_grading_with_the_local_backend_falls_back_to_the_heuristic(checkpoint, settings):
    from evaluation.services import evaluation_submit

    settings.LLM_BACKEND, settings.LLM_BASE_URL, settings.LLM_MODEL = "local", str(checkpoint), "tiny-random"
    settings.LLM_NUM_PREDICT = 24

    evaluation = evaluation_submit(request=REQUEST, wait=True)

    assert evaluation.source == "heuristic" and evaluation.result["score"] > 0
    assert "invalid JSON" in evaluation.error and evaluation.raw_output.startswith('{"score":')


def test_calls_that_arrive_together_are_generated_as_one_batch(checkpoint, monkeypatch):
    from evaluation.llm import local

    batches: list[int] = []
    generate = local._generate
    monkeypatch.setattr(
        local,
        "_generate",
        lambda loaded, prompts, *options: batches.append(len(prompts)) or generate(loaded, prompts, *options),
    )
    grader = client(checkpoint)
    replies: dict[int, str] = {}

    def ask(index: int) -> None:
        replies[index] = grader.chat(build_messages(REQUEST), schema=grade_json_schema(), num_predict=8, seed=2).content

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(replies) == list(range(6)) and all(reply.startswith("{") for reply in replies.values())
    assert sum(batches) == 6 and len(batches) < 6


def test_a_directory_without_a_checkpoint_is_reported_not_loaded(tmp_path):
    grader = CLIENTS["local"](base_url=str(tmp_path), model="x")

    health = grader.health()

    missing = missing_packages(("torch", "transformers"))
    expected = "needs the [train] extra" if missing else "no config.json"
    assert not health.ok and expected in health.detail
