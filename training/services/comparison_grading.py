"""Grading one example with one contender of a comparison: its client (a server, or a GGUF file served by
llama.cpp for as long as it grades), the prompt it was trained with, the parsed grade as a `ComparisonItem`,
and what the prompt cost (the server's token count, else an estimate), summed per contender.

`services/comparisons.py` runs these over a comparison's examples and records the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from evaluation.choices import PromptVariant
from evaluation.llm.clients import CLIENTS, BaseLLMClient, ChatResult, LLMError, OpenAICompatibleClient
from evaluation.llm.parsing import InvalidJSON, SchemaMismatch, extract_json_object, normalise_grade
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import grade_json_schema
from ready4hire.errors import InvalidInput

from ..comparison_report import PromptUsage, prompt_tokens_estimate
from ..models import ComparisonItem, ComparisonRun, TrainingExample
from ..selectors.versions import GGUF_BACKEND
from .serving import serve_gguf


def _configured_api_key(base_url: str) -> str:
    # The configured key belongs to the configured server: never send it to a server named in a reference.
    return settings.LLM_API_KEY if base_url.rstrip("/") == settings.LLM_BASE_URL.rstrip("/") else ""


@contextmanager
def contender_client(contender: dict) -> Iterator[BaseLLMClient]:
    options = {
        "model": contender["model"],
        "timeout": settings.LLM_TIMEOUT,
        "max_retries": settings.LLM_MAX_RETRIES,
        "backoff": settings.LLM_RETRY_BACKOFF,
    }
    if contender["backend"] == GGUF_BACKEND:
        # llama.cpp serves the file on a free loopback port for as long as this model grades.
        with (
            serve_gguf(contender["gguf_path"]) as served,
            OpenAICompatibleClient(base_url=served.base_url, **{**options, "model": served.model}) as client,
        ):
            yield client
        return
    client_class = CLIENTS[contender["backend"]]
    base_url = contender["base_url"]
    with client_class(base_url=base_url, api_key=_configured_api_key(base_url), **options) as client:
        # A server that is down or lacks the model would turn every grade into a miss: say so instead.
        health = client.health()
        if not health.ok:
            raise InvalidInput(
                f"Model {contender['label']!r} ({contender['ref']}): {client.backend} server at {base_url}: "
                f"{health.detail}.",
                field="models",
            )
        yield client


def _without_nul(value: Any) -> Any:
    """PostgreSQL stores no NUL character in text or jsonb, and an untrained model can well write one."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    return value


@dataclass
class Graded:
    """A grade's row and what its prompt cost (nothing when no answer came)."""

    item: ComparisonItem
    server_tokens: int | None = None
    estimated_tokens: int | None = None


def _server_prompt_tokens(reply: ChatResult) -> int | None:
    """The prompt tokens the server counted: Ollama's `prompt_eval_count`, an OpenAI-compatible server's
    `usage.prompt_tokens`; None when the reply has neither (an old Ollama leaves it out on a cached prompt)."""
    usage = reply.raw.get("usage")
    count = reply.raw.get("prompt_eval_count", usage.get("prompt_tokens") if isinstance(usage, dict) else None)
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else None


def _contender_variant(run: ComparisonRun, label: str) -> str:
    # Runs made before prompt variants have none on their contenders: they were all sent the full prompt.
    contender = next(c for c in run.contenders if c["label"] == label)
    return contender.get("prompt_variant") or PromptVariant.FULL


def grade_one(run: ComparisonRun, client: BaseLLMClient, label: str, example: TrainingExample, repeat: int) -> Graded:
    item = ComparisonItem(run=run, example=example, model_label=label, repeat=repeat, human_score=example.score)
    messages = build_messages(example.grading_request(), _contender_variant(run, label))
    try:
        reply = client.chat(
            messages,
            schema=grade_json_schema(),
            temperature=settings.LLM_TEMPERATURE,
            num_predict=settings.LLM_NUM_PREDICT,
            seed=run.seed + repeat,
        )
    except LLMError as exc:
        item.error = str(exc)[:2000]
        return Graded(item)
    graded = Graded(item, _server_prompt_tokens(reply), prompt_tokens_estimate(messages))
    item.raw_output, item.latency_ms = _without_nul(reply.content), reply.latency_ms
    try:
        data = extract_json_object(reply.content)
        # Only a grade is kept as `output`: JSON of the wrong shape stays in raw_output, since it may hold
        # NaN or Infinity, which PostgreSQL's jsonb refuses.
        item.valid_json = True
        grade = normalise_grade(data)
    except (InvalidJSON, SchemaMismatch) as exc:
        item.error = str(exc)[:2000]
        return graded
    item.schema_valid, item.output, item.score = True, _without_nul(grade.model_dump()), grade.score
    return graded


def usage_add(run: ComparisonRun, batch: list[Graded]) -> None:
    """Add the prompt cost of the grades in `batch` to their contenders' `prompt_usage` (on the row, unsaved)."""
    by_label = {contender["label"]: contender for contender in run.contenders}
    for graded in batch:
        if graded.estimated_tokens is None:
            continue
        contender = by_label[graded.item.model_label]
        usage = PromptUsage.from_json(contender.get("prompt_usage"))
        contender["prompt_usage"] = usage.adding(
            server_tokens=graded.server_tokens, estimated_tokens=graded.estimated_tokens
        ).to_json()


def failed_item(
    run: ComparisonRun, label: str, example: TrainingExample, repeat: int, error: Exception | None
) -> ComparisonItem:
    """The row of a grade that broke outside the LLM call (an unexpected error): kept, so the rest go on."""
    return ComparisonItem(
        run=run,
        example=example,
        model_label=label,
        repeat=repeat,
        human_score=example.score,
        error=f"{type(error).__name__}: {error}"[:2000],
    )
