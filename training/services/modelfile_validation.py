"""Validating a model on the configured Ollama server: grade a fixed probe set (`training/data/probes.json`) as
the live grader would, report the JSON and schema rates, and store the report on the Modelfile row."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from evaluation.batch import Outcome, batch_map, in_input_order
from evaluation.choices import PromptVariant
from evaluation.llm.clients import LLMError, OllamaClient
from evaluation.llm.parsing import OutputError, extract_json_object, normalise_grade
from evaluation.llm.prompts import build_messages
from evaluation.llm.schema import PROMPT_VERSION, GradingRequest, grade_json_schema
from ready4hire.errors import DomainError

from ..models import Modelfile
from ..selectors.modelfiles import modelfile_newest_named
from ..selectors.versions import model_prompt_variant
from .modelfile_jobs import modelfile_job_claim, modelfile_job_finish, modelfile_progress_saver
from .ollama_models import ollama_admin_client, ollama_errors, ollama_full_name

PROBES_PATH = Path(__file__).resolve().parents[1] / "data" / "probes.json"


@dataclass(frozen=True)
class Probe:
    key: str
    quality: str  # "strong" | "weak": what a working grader must tell apart
    request: GradingRequest


@cache
def validation_probes() -> tuple[Probe, ...]:
    """The probe set: for each question in `probes.json`, its answers as grading requests. Read once, on first use."""
    questions = json.loads(PROBES_PATH.read_text(encoding="utf-8"))
    return tuple(
        Probe(
            key=answer["key"],
            quality=answer["quality"],
            request=GradingRequest.normalised(
                **{name: value for name, value in question.items() if name != "answers"}, answer=answer["answer"]
            ),
        )
        for question in questions
        for answer in question["answers"]
    )


@dataclass
class ProbeResult:
    probe: str
    language: str
    quality: str
    valid_json: bool = False
    schema_valid: bool = False
    score: float | None = None
    latency_ms: int | None = None
    error: str = ""


@dataclass
class ValidationReport:
    model: str
    server: str
    model_present: bool
    min_valid_json: float
    min_schema_valid: float
    results: list[ProbeResult] = field(default_factory=list)

    @property
    def probes(self) -> int:
        return len(self.results)

    @property
    def valid_json_rate(self) -> float:
        return sum(r.valid_json for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def schema_valid_rate(self) -> float:
        return sum(r.schema_valid for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def passed(self) -> bool:
        return (
            self.model_present
            and self.valid_json_rate >= self.min_valid_json
            and self.schema_valid_rate >= self.min_schema_valid
        )

    @property
    def strong_above_weak(self) -> bool | None:
        """Whether every strong answer scored above every weak one (None without both): told, not gated."""
        strong = [r.score for r in self.results if r.quality == "strong" and r.score is not None]
        weak = [r.score for r in self.results if r.quality == "weak" and r.score is not None]
        return min(strong) > max(weak) if strong and weak else None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "server": self.server,
            "model_present": self.model_present,
            "probes": self.probes,
            "valid_json": sum(r.valid_json for r in self.results),
            "schema_valid": sum(r.schema_valid for r in self.results),
            "valid_json_rate": round(self.valid_json_rate, 4),
            "schema_valid_rate": round(self.schema_valid_rate, 4),
            "min_valid_json": self.min_valid_json,
            "min_schema_valid": self.min_schema_valid,
            "passed": self.passed,
            "strong_above_weak": self.strong_above_weak,
            "prompt_version": PROMPT_VERSION,
            "results": [asdict(result) for result in self.results],
        }


def _grade_probe(client: OllamaClient, probe: Probe, prompt_variant: str = PromptVariant.FULL) -> ProbeResult:
    """One probe graded as the live grader asks (same prompt, schema and options), without its re-ask: the
    validation measures what the model gets right the first time."""
    result = ProbeResult(probe=probe.key, language=probe.request.language, quality=probe.quality)
    try:
        reply = client.chat(
            build_messages(probe.request, prompt_variant),
            schema=grade_json_schema(),
            temperature=settings.LLM_TEMPERATURE,
            num_predict=settings.LLM_NUM_PREDICT,
            seed=settings.LLM_SEED,
        )
    except LLMError as exc:
        result.error = str(exc)
        return result
    result.latency_ms = reply.latency_ms
    try:
        data = extract_json_object(reply.content)
        result.valid_json = True
        result.score = normalise_grade(data).score
        result.schema_valid = True
    except OutputError as exc:
        result.error = str(exc)
    return result


def ollama_model_validate(
    *,
    name: str,
    on_progress: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
    prompt_variant: str = PromptVariant.FULL,
) -> ValidationReport:
    """Grade the probe set with model `name` on the configured server and report the JSON and schema rates.

    Schema-valid means what the live grader accepts (`parse_grade`'s shape check; out-of-range numbers are
    clamped there, not refused). A model the server does not list fails without grading anything.
    `concurrency` probes are kept in flight (default LLM_CONCURRENCY); results keep the probe set's order.
    `prompt_variant`: the system prompt the model is sent, as the live grader sends it (its version's).
    """
    with ollama_admin_client() as admin, ollama_errors(f"Validating {name} on {admin.base_url} failed"):
        present = ollama_full_name(name) in {ollama_full_name(model.name) for model in admin.list_models()}
    report = ValidationReport(
        model=name,
        server=settings.OLLAMA_ADMIN_URL,
        model_present=present,
        min_valid_json=settings.MODEL_VALIDATION_MIN_VALID_JSON,
        min_schema_valid=settings.MODEL_VALIDATION_MIN_SCHEMA_VALID,
    )
    if not present:
        return report
    with OllamaClient(
        base_url=settings.OLLAMA_ADMIN_URL,
        model=name,
        timeout=settings.LLM_TIMEOUT,
        max_retries=settings.LLM_MAX_RETRIES,
        backoff=settings.LLM_RETRY_BACKOFF,
    ) as client:
        probes = validation_probes()

        def collect(outcome: Outcome[ProbeResult]) -> None:
            probe = probes[outcome.index]
            report.results.append(
                outcome.value
                or ProbeResult(
                    probe=probe.key, language=probe.request.language, quality=probe.quality, error=str(outcome.error)
                )
            )
            if on_progress:
                on_progress(len(report.results), len(probes))

        batch_map(
            lambda probe: _grade_probe(client, probe, prompt_variant),
            probes,
            concurrency=concurrency,
            on_done=in_input_order(collect),
        )
    return report


def modelfile_validate(*, modelfile_id: int, concurrency: int | None = None) -> ValidationReport:
    """Validate the Modelfile's model on the server and store the report (passed/failed) on the row."""
    modelfile = modelfile_job_claim(modelfile_id)
    try:
        report = ollama_model_validate(
            name=modelfile.name,
            on_progress=modelfile_progress_saver(modelfile, 10, 95),
            concurrency=concurrency,
            prompt_variant=model_prompt_variant(modelfile.name),  # a compact version is asked with its prompt
        )
    except DomainError as exc:
        modelfile_job_finish(modelfile, error=str(exc))
        raise
    modelfile_job_finish(
        modelfile,
        validation_status=Modelfile.ValidationStatus.PASSED if report.passed else Modelfile.ValidationStatus.FAILED,
        validation=report.to_json(),
        validated_at=timezone.now(),
    )
    return report


def model_validate(*, name: str, concurrency: int | None = None) -> ValidationReport:
    """Validate a server model by name (`validate_model`); the newest Modelfile of that name keeps the report."""
    modelfile = modelfile_newest_named(name=name)
    if modelfile is None:
        return ollama_model_validate(name=name, concurrency=concurrency, prompt_variant=model_prompt_variant(name))
    return modelfile_validate(modelfile_id=modelfile.pk, concurrency=concurrency)
