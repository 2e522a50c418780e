"""The configured Ollama server: its management client, its errors as domain errors, and the models on it
(list, show, delete). Pushing and validating a model live in `modelfile_push` and `modelfile_validation`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from evaluation.llm.clients import LLMResponseError, LLMUnavailable
from evaluation.llm.ollama_admin import ModelNotFound, OllamaAdminClient, OllamaModel
from ready4hire.errors import DomainError, NotFound

from ..models import Modelfile


class OllamaNotConfigured(DomainError, status=503, code="ollama_not_configured"): ...


class OllamaUnavailable(DomainError, status=503, code="ollama_unavailable"):
    """The Ollama server did not answer (transport error, timeout or 5xx after the retries): worth retrying."""


class OllamaRefused(DomainError, status=502, code="ollama_refused"):
    """The Ollama server answered with a refusal (bad digest, unknown base model…): retrying will not help."""


def ollama_server_require() -> None:
    """OllamaNotConfigured unless a server is configured: callers check before storing or queueing anything."""
    if not settings.OLLAMA_ADMIN_URL:
        raise OllamaNotConfigured(
            "No Ollama server is configured: set OLLAMA_ADMIN_URL (or LLM_BACKEND=ollama and LLM_BASE_URL)."
        )


def ollama_admin_client() -> OllamaAdminClient:
    """A management client for the configured server; settings are read here, at call time."""
    ollama_server_require()
    return OllamaAdminClient(
        base_url=settings.OLLAMA_ADMIN_URL,
        timeout=settings.OLLAMA_ADMIN_TIMEOUT,
        max_retries=settings.OLLAMA_ADMIN_MAX_RETRIES,
        backoff=settings.OLLAMA_ADMIN_RETRY_BACKOFF,
    )


@contextmanager
def ollama_errors(action: str) -> Iterator[None]:
    """The client's errors as domain errors, each saying what was being done."""
    try:
        yield
    except ModelNotFound as exc:
        raise NotFound(f"{action}: {exc}") from exc
    except LLMUnavailable as exc:
        raise OllamaUnavailable(f"{action}: {exc}") from exc
    except LLMResponseError as exc:
        raise OllamaRefused(f"{action}: {exc}") from exc


def ollama_full_name(name: str) -> str:
    """The name with its tag, as the server lists it: `grader` is `grader:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def ollama_model_list() -> list[OllamaModel]:
    with ollama_admin_client() as client, ollama_errors(f"Listing the models on {client.base_url} failed"):
        return client.list_models()


def ollama_model_show(*, name: str) -> dict[str, Any]:
    with ollama_admin_client() as client, ollama_errors(f"Showing {name} failed"):
        return client.show(name)


def ollama_model_delete(*, name: str) -> int:
    """Delete a model from the server; Modelfiles pushed under that name are marked not pushed (returns how many)."""
    with ollama_admin_client() as client, ollama_errors(f"Deleting {name} failed"):
        client.delete(name)
    names = {name, ollama_full_name(name), name.removesuffix(":latest")}
    return Modelfile.objects.filter(name__in=names, push_status=Modelfile.PushStatus.PUSHED).update(
        push_status=Modelfile.PushStatus.NOT_PUSHED,
        validation_status=Modelfile.ValidationStatus.NOT_RUN,
    )
