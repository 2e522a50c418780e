"""Grade one request with an LLM client: ask, parse, and re-ask once, more strictly, on invalid output.

Returns what happened instead of raising, so the caller can fall back and record every attempt. The same
turns run over a client's sync transport (`grade_with_llm`) or its async one (`agrade_with_llm`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from ready4hire import metrics

from ..choices import PromptVariant
from .clients import BaseLLMClient, ChatResult, LLMError
from .parsing import OutputError, parse_grade
from .prompts import build_messages, build_retry_message
from .schema import GradeResult, GradingRequest, grade_json_schema
from .steps import next_step


@dataclass
class LLMGrade:
    result: GradeResult | None
    model: str
    attempts: int = 0
    latency_ms: int = 0
    raw_outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def error(self) -> str:
        return " | ".join(self.errors)


def grade_with_llm(
    client: BaseLLMClient,
    request: GradingRequest,
    *,
    temperature: float,
    num_predict: int | None = None,
    seed: int | None = None,
    prompt_variant: str = PromptVariant.FULL,
) -> LLMGrade:
    turns = _grade_turns(
        client.model,
        request,
        temperature=temperature,
        num_predict=num_predict,
        seed=seed,
        prompt_variant=prompt_variant,
    )
    reply: ChatResult | LLMError | None = None
    while not isinstance(ask := next_step(turns, reply), StopIteration):
        reply = _reply_or_error(client.chat, ask)
    return ask.value


async def agrade_with_llm(client: BaseLLMClient, request: GradingRequest, **options: Any) -> LLMGrade:
    """`grade_with_llm` over the client's async transport (`achat`): the same turns, no thread held; takes
    `grade_with_llm`'s options."""
    turns = _grade_turns(client.model, request, **options)
    reply: ChatResult | LLMError | None = None
    while not isinstance(ask := next_step(turns, reply), StopIteration):
        reply = await _areply_or_error(client.achat, ask)
    return ask.value


# The turns take an LLMError back as an answer (it decides the re-ask), so the transports hand it over.
def _reply_or_error(chat: Callable[..., ChatResult], ask: dict[str, Any]) -> ChatResult | LLMError:
    try:
        return chat(**ask)
    except LLMError as exc:
        return exc


async def _areply_or_error(achat: Callable[..., Awaitable[ChatResult]], ask: dict[str, Any]) -> ChatResult | LLMError:
    try:
        return await achat(**ask)
    except LLMError as exc:
        return exc


def _grade_turns(
    model: str,
    request: GradingRequest,
    *,
    temperature: float,
    num_predict: int | None = None,
    seed: int | None = None,
    prompt_variant: str = PromptVariant.FULL,
) -> Generator[dict[str, Any], ChatResult | LLMError, LLMGrade]:
    """The conversation, written once for both transports: yields the next chat call's arguments and gets
    its reply (or the LLMError it raised) back. `prompt_variant`: the system prompt the model was trained
    with (a fine-tuned grader's compact one)."""
    outcome = LLMGrade(result=None, model=model)
    messages = build_messages(request, prompt_variant)
    schema = grade_json_schema()
    # The re-ask runs at temperature 0: the first answer's sampling is what most likely went wrong.
    for turn_temperature in (temperature, 0.0):
        reply = yield {
            "messages": messages,
            "schema": schema,
            "temperature": turn_temperature,
            "num_predict": num_predict,
            "seed": seed,
        }
        if isinstance(reply, LLMError):
            metrics.llm_error(reply)
            outcome.errors.append(str(reply))
            return outcome
        outcome.attempts += reply.attempts
        outcome.latency_ms += reply.latency_ms
        outcome.model = reply.model
        outcome.raw_outputs.append(reply.content)
        try:
            outcome.result = parse_grade(reply.content)
            return outcome
        except OutputError as exc:
            metrics.llm_error(exc)
            outcome.errors.append(str(exc))
            messages = [
                *messages,
                {"role": "assistant", "content": reply.content[:4000]},
                build_retry_message(request.language, str(exc)),
            ]
    return outcome
