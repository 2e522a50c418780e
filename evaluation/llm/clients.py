"""HTTP clients for grading LLM servers: Ollama's native API and the OpenAI-compatible chat API.

They know nothing of the ORM or of Django settings: they take their configuration and, optionally, an
`httpx.Client` (tests pass one bound to a loopback server or an `httpx.MockTransport`). Transport errors
and 5xx answers are retried with exponential backoff; what comes back is plain data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


class LLMError(Exception):
    """The LLM server could not produce an answer."""


class LLMUnavailable(LLMError):
    """Transport failure, timeout or 5xx, still failing after the retries."""


class LLMResponseError(LLMError):
    """The server answered, but not with a usable chat response (4xx, or an unexpected envelope)."""


@dataclass(frozen=True)
class ChatResult:
    content: str
    model: str
    latency_ms: int
    attempts: int
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class HealthStatus:
    ok: bool
    detail: str
    models: list[str] = field(default_factory=list)


class BaseLLMClient:
    backend = "base"
    chat_path = ""
    health_path = ""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        api_key: str = "",
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url:
            raise ValueError(f"{type(self).__name__} needs a base_url")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self._sleep = sleep
        # Sent with every request, so a shared (pooled) `http` client carries no per-server credentials.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> BaseLLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _request(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, int]:
        """Send with retries on transport errors and 5xx; returns the response and the attempts made."""
        last_error = ""
        for attempt in range(1, self.max_retries + 2):
            try:
                response = self.http.request(
                    method, self._url(path), timeout=self.timeout, headers=self._headers, **kwargs
                )
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                if response.status_code < 500 or self._is_final(response):
                    return response, attempt
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
            if attempt <= self.max_retries:
                self._sleep(self.backoff * 2 ** (attempt - 1))
        raise LLMUnavailable(
            f"{self.backend} server at {self.base_url} failed after {self.max_retries + 1} attempts: {last_error}"
        )

    def _is_final(self, response: httpx.Response) -> bool:
        """Whether a 5xx answer is an answer to act on rather than an outage to retry (none by default)."""
        return False

    def _post_json(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        response, attempts = self._request("POST", path, json=body)
        if response.status_code >= 400:
            raise LLMResponseError(f"HTTP {response.status_code} from {path}: {response.text[:300]}")
        try:
            data = response.json()
        except ValueError:
            raise LLMResponseError(f"{path} answered with a body that is not JSON: {response.text[:200]!r}") from None
        if not isinstance(data, dict):
            raise LLMResponseError(f"{path} answered with JSON that is not an object")
        return data, attempts

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any],
        temperature: float = 0.1,
        num_predict: int | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        body = self._chat_body(messages, schema=schema, temperature=temperature, num_predict=num_predict, seed=seed)
        started = time.perf_counter()
        data, attempts = self._post_json(self.chat_path, body)
        latency_ms = round((time.perf_counter() - started) * 1000)
        return ChatResult(
            content=self._content(data),
            model=str(data.get("model") or self.model),
            latency_ms=latency_ms,
            attempts=attempts,
            raw=data,
        )

    def health(self) -> HealthStatus:
        try:
            response = self.http.get(self._url(self.health_path), timeout=min(self.timeout, 5.0), headers=self._headers)
        except httpx.TransportError as exc:
            return HealthStatus(ok=False, detail=f"unreachable: {type(exc).__name__}")
        if response.status_code != 200:
            return HealthStatus(ok=False, detail=f"HTTP {response.status_code}")
        try:
            models = self._model_names(response.json())
        except (ValueError, TypeError, KeyError, AttributeError):
            return HealthStatus(ok=False, detail="unexpected model list")
        # A name without a tag means `name:latest` (Ollama, and Ollama's OpenAI API); another tag is another model.
        if self.model not in models and f"{self.model}:latest" not in models:
            return HealthStatus(ok=False, detail=f"model {self.model!r} is not on the server", models=models)
        return HealthStatus(ok=True, detail="ok", models=models)

    def _chat_body(self, messages: list[dict[str, str]], **options: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _content(self, data: dict[str, Any]) -> str:
        raise NotImplementedError

    def _model_names(self, data: Any) -> list[str]:
        raise NotImplementedError


class OllamaClient(BaseLLMClient):
    """Ollama's native API: `POST /api/chat` with `format` = the JSON Schema; health from `GET /api/tags`."""

    backend = "ollama"
    chat_path = "/api/chat"
    health_path = "/api/tags"

    def _chat_body(self, messages: list[dict[str, str]], **options: Any) -> dict[str, Any]:
        model_options: dict[str, Any] = {"temperature": options["temperature"]}
        if options.get("num_predict") is not None:
            model_options["num_predict"] = options["num_predict"]
        if options.get("seed") is not None:
            model_options["seed"] = options["seed"]
        return {
            "model": self.model,
            "messages": messages,
            "format": options["schema"],
            "options": model_options,
            "stream": False,
        }

    def _content(self, data: dict[str, Any]) -> str:
        message = data.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise LLMResponseError("Ollama response has no message.content")
        return message["content"]

    def _model_names(self, data: Any) -> list[str]:
        return [str(item["name"]) for item in data["models"]]


class _JsonObjectServers:
    """The OpenAI-compatible servers (by base URL) that refuse `response_format: json_schema` but take the
    schema as `{type: json_object, schema: ...}` (llama-cpp-python's server). Learnt from the first refusal,
    shared by every client and thread of the process, so each server is asked the standard way once."""

    def __init__(self) -> None:
        self._urls: set[str] = set()
        self._lock = threading.Lock()

    def __contains__(self, base_url: str) -> bool:
        with self._lock:
            return base_url in self._urls

    def add(self, base_url: str) -> None:
        with self._lock:
            self._urls.add(base_url)

    def discard(self, base_url: str) -> None:
        with self._lock:
            self._urls.discard(base_url)


JSON_OBJECT_SCHEMA_SERVERS = _JsonObjectServers()


class OpenAICompatibleClient(BaseLLMClient):
    """`POST /v1/chat/completions` with a strict `json_schema` response format (vLLM, llama.cpp, LM Studio).

    `base_url` is the server root; a trailing `/v1` is accepted too. llama-cpp-python's server (0.3.x) answers
    HTTP 500 to `json_schema` and constrains output with `{type: json_object, schema}` instead: the first
    such refusal from a server is recognised (an error answer that names response_format or json_schema),
    remembered for that server in `JSON_OBJECT_SCHEMA_SERVERS`, and the request sent again in that form. The
    schema constraint is never dropped: if the other form fails too, the error stands.
    """

    backend = "openai"
    chat_path = "/v1/chat/completions"
    health_path = "/v1/models"

    def __init__(self, *, base_url: str, **kwargs: Any) -> None:
        base = base_url.rstrip("/")
        super().__init__(base_url=base[: -len("/v1")] if base.endswith("/v1") else base, **kwargs)

    def _chat_body(self, messages: list[dict[str, str]], **options: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": options["temperature"],
            "stream": False,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "interview_grade", "schema": options["schema"], "strict": True},
            },
        }
        if options.get("num_predict") is not None:
            body["max_tokens"] = options["num_predict"]
        if options.get("seed") is not None:
            body["seed"] = options["seed"]
        return body

    @staticmethod
    def _json_object_form(body: dict[str, Any]) -> dict[str, Any]:
        schema = body["response_format"]["json_schema"]["schema"]
        return {**body, "response_format": {"type": "json_object", "schema": schema}}

    @staticmethod
    def _refuses_json_schema(response: httpx.Response) -> bool:
        """An error answer that refuses the json_schema response format and names json_object as what it
        takes (llama-cpp-python: "Input should be 'text' or 'json_object'" at response_format.type). Other
        errors that merely mention response_format stay errors: switching forms on a server that ignores
        `schema` beside json_object would drop the constraint."""
        if response.status_code < 400:
            return False
        text = response.text.lower()
        return ("response_format" in text or "json_schema" in text) and "json_object" in text

    def _request(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, int]:
        body = kwargs.get("json")
        asks_json_schema = (
            path == self.chat_path
            and isinstance(body, dict)
            and (body.get("response_format") or {}).get("type") == "json_schema"
        )
        if not asks_json_schema:
            return super()._request(method, path, **kwargs)
        json_object_kwargs = {**kwargs, "json": self._json_object_form(body)}
        if self.base_url in JSON_OBJECT_SCHEMA_SERVERS:
            return super()._request(method, path, **json_object_kwargs)
        response, attempts = super()._request(method, path, **kwargs)
        if not self._refuses_json_schema(response):
            return response, attempts
        JSON_OBJECT_SCHEMA_SERVERS.add(self.base_url)
        response, more = super()._request(method, path, **json_object_kwargs)
        return response, attempts + more

    def _is_final(self, response: httpx.Response) -> bool:
        # A refusal of json_schema (a 5xx from llama-cpp-python) is not an outage to retry but the sign to
        # switch forms.
        return self._refuses_json_schema(response)

    def _content(self, data: dict[str, Any]) -> str:
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMResponseError("OpenAI-compatible response has no choices[0].message.content") from None
        if not isinstance(content, str):
            raise LLMResponseError("choices[0].message.content is not a string")
        return content

    def _model_names(self, data: Any) -> list[str]:
        return [str(item["id"]) for item in data["data"]]


CLIENTS: dict[str, type[BaseLLMClient]] = {"ollama": OllamaClient, "openai": OpenAICompatibleClient}
