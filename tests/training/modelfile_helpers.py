"""Shared set-up for the Modelfile tests: a finished dataset export with a real train file, and the settings
that point the Modelfile services at a loopback Ollama server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings

from evaluation.llm.schema import PROMPT_VERSION, GradingRequest
from training.formats import format_example
from training.models import DatasetExport
from training.selectors.exports import score_bucket_index

from .factories import DatasetExportFactory, grade


def use_ollama(django_settings, server_url: str) -> None:
    """Point the services at `server_url` and fail fast (no retries, no backoff)."""
    django_settings.OLLAMA_ADMIN_URL = server_url
    django_settings.OLLAMA_ADMIN_MAX_RETRIES = 0
    django_settings.OLLAMA_ADMIN_RETRY_BACKOFF = 0.0
    django_settings.OLLAMA_ADMIN_TIMEOUT = 5.0
    django_settings.LLM_MAX_RETRIES = 0
    django_settings.LLM_RETRY_BACKOFF = 0.0
    django_settings.LLM_TIMEOUT = 5.0


def example_line(fmt: str, *, score: float, language: str, index: int) -> str:
    request = GradingRequest.normalised(
        question=f"Question {index}: what is a database index?" if language == "en" else f"Pregunta {index}: ¿índice?",
        answer=f"Answer number {index}, about B-trees and full scans.",
        expected_concepts=["B-tree", "full scan"],
        language=language,
    )
    return json.dumps(format_example(fmt, request=request, label=grade(score)), ensure_ascii=False) + "\n"


def write_export(
    *, rows: list[tuple[float, str]], fmt: str = "messages", name: str = "ready4hire", version: int = 1, seed: int = 42
) -> DatasetExport:
    """A finished export whose train file holds one record per (score, language), as the exporter writes it."""
    relative = Path("datasets") / name / f"v{version}" / f"{name}_train.jsonl"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(
        example_line(fmt, score=score, language=language, index=index) for index, (score, language) in enumerate(rows)
    )
    path.write_text(text, encoding="utf-8")
    data = path.read_bytes()
    return DatasetExportFactory(
        name=name,
        version=version,
        format=fmt,
        seed=seed,
        prompt_version=PROMPT_VERSION,
        train_count=len(rows),
        files={"train": {"path": relative.as_posix(), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}},
    )


def bucket_of(assistant_json: str) -> int:
    return score_bucket_index(json.loads(assistant_json)["score"])
