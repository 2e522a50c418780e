"""Grade one request with an LLM client: ask, parse, and re-ask once, more strictly, on invalid output.

Returns what happened instead of raising, so the caller can fall back and record every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .clients import BaseLLMClient, LLMError
from .parsing import OutputError, parse_grade
from .prompts import build_messages, build_retry_message
from .schema import GradeResult, GradingRequest, grade_json_schema


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
) -> LLMGrade:
    outcome = LLMGrade(result=None, model=client.model)
    messages = build_messages(request)
    schema = grade_json_schema()
    # The re-ask runs at temperature 0: the first answer's sampling is what most likely went wrong.
    for turn_temperature in (temperature, 0.0):
        try:
            reply = client.chat(
                messages, schema=schema, temperature=turn_temperature, num_predict=num_predict, seed=seed
            )
        except LLMError as exc:
            outcome.errors.append(str(exc))
            return outcome
        outcome.attempts += reply.attempts
        outcome.latency_ms += reply.latency_ms
        outcome.model = reply.model
        outcome.raw_outputs.append(reply.content)
        try:
            outcome.result = parse_grade(reply.content)
            return outcome
        except OutputError as exc:
            outcome.errors.append(str(exc))
            messages = [
                *messages,
                {"role": "assistant", "content": reply.content[:4000]},
                build_retry_message(request.language, str(exc)),
            ]
    return outcome
