"""HTTP clients for grading LLM servers: Ollama's native API and the OpenAI-compatible chat API.

They know nothing of the ORM or of Django settings: they take their configuration and, optionally, an
`httpx.Client` (tests pass one bound to a loopback server or an `httpx.MockTransport`). Transport errors
and 5xx answers are retried with exponential backoff; what comes back is plain data.

Every client speaks both ways: `chat()` over an `httpx.Client`, `achat()` over an `httpx.AsyncClient` (the
async API path, where a waiting request holds no thread). The protocol — bodies, retries, backoff, envelope
checks, the json_object fallback — is written once, as generators that yield the next request to send or
pause to take (`steps.py`) and get the answer back; `_run` and `_arun` only carry out those steps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .steps import Pause, Send, Steps, T, next_step


class LLMError(Exception):
    """The LLM server could not produce an answer."""


class LLMUnavailable(LLMError):
    """Transport failure, timeout or 5xx, still failing after the retries."""

    kind = "connection"  # the label of r4h_llm_errors_total (ready4hire/metrics.py): the last attempt's failure


class LLMResponseError(LLMError):
    """The server answered, but not with a usable chat response (4xx, or an unexpected envelope)."""

    kind = "invalid_response"


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


_TRANSPORT_WORDS: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectError, "could not connect (refused or unreachable)"),
    (httpx.RemoteProtocolError, "the server broke the HTTP exchange (closed the connection?)"),
    (httpx.NetworkError, "the connection broke"),
)


def given_options(options: dict[str, Any], *names: str, **renamed: str) -> dict[str, Any]:
    """The optional sampling options that were given (not None), each under the name the server uses:
    `names` keep theirs, `renamed` maps a `chat` option to the server's name for it."""
    wanted = {**{name: name for name in names}, **renamed}
    return {server_name: options[name] for name, server_name in wanted.items() if options.get(name) is not None}


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
        async_http: httpx.AsyncClient | None = None,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not base_url:
            raise ValueError(f"{type(self).__name__} needs a base_url")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self._sleep = sleep
        self._async_sleep = async_sleep
        # Sent with every request, so a shared (pooled) `http` client carries no per-server credentials.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=self._default_timeout())
        # The async transport is made on first use: most clients only ever speak synchronously.
        self._async_http = async_http
        self._owns_async_http = async_http is None

    def _default_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))

    @property
    def async_http(self) -> httpx.AsyncClient:
        if self._async_http is None:
            self._async_http = httpx.AsyncClient(timeout=self._default_timeout())
        return self._async_http

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    async def aclose(self) -> None:
        """Close what this client opened, the async transport included (the sync one too)."""
        if self._owns_async_http and self._async_http is not None:
            await self._async_http.aclose()
        self.close()

    async def __aenter__(self) -> BaseLLMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> BaseLLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    # --- carrying out the protocol's steps, synchronously or not

    def _run(self, steps: Steps[T]) -> T:
        answer: Any = None
        while not isinstance(step := next_step(steps, answer), StopIteration):
            answer = self._sleep(step.seconds) if isinstance(step, Pause) else self._send(step)
        return step.value

    def _send(self, step: Send) -> httpx.Response | httpx.TransportError:
        try:
            return self.http.request(step.method, step.url, **step.options)
        except httpx.TransportError as exc:
            return exc

    async def _arun(self, steps: Steps[T]) -> T:
        answer: Any = None
        while not isinstance(step := next_step(steps, answer), StopIteration):
            answer = await (self._async_sleep(step.seconds) if isinstance(step, Pause) else self._asend(step))
        return step.value

    async def _asend(self, step: Send) -> httpx.Response | httpx.TransportError:
        try:
            return await self.async_http.request(step.method, step.url, **step.options)
        except httpx.TransportError as exc:
            return exc

    # --- the protocol

    def _request(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, int]:
        """Send with retries on transport errors and 5xx; returns the response and the attempts made."""
        return self._run(self._request_steps(method, path, **kwargs))

    def _request_steps(self, method: str, path: str, **kwargs: Any) -> Steps[tuple[httpx.Response, int]]:
        last_error = last_kind = ""
        for attempt in range(1, self.max_retries + 2):
            answer = yield Send(method, self._url(path), {"timeout": self.timeout, "headers": self._headers, **kwargs})
            if isinstance(answer, httpx.TransportError):
                last_error = self._transport_error(answer)
                last_kind = "timeout" if isinstance(answer, httpx.TimeoutException) else "connection"
            else:
                if answer.status_code < 500 or self._is_final(answer):
                    return answer, attempt
                last_error, last_kind = f"HTTP {answer.status_code}: {answer.text[:200]}", "http_5xx"
            if attempt <= self.max_retries:
                yield Pause(self.backoff * 2 ** (attempt - 1))
        error = LLMUnavailable(
            f"{self.backend} server at {self.base_url} failed after {self.max_retries + 1} attempts: {last_error}"
        )
        error.kind = last_kind
        raise error

    def _transport_error(self, exc: httpx.TransportError) -> str:
        """The error in words that do not depend on the transport: the sync and async httpx backends word
        the same failure differently, and a grade's recorded error must not depend on the path it took."""
        if isinstance(exc, httpx.TimeoutException):
            return f"{type(exc).__name__}: no answer within {self.timeout:g} s"
        for kind, words in _TRANSPORT_WORDS:
            if isinstance(exc, kind):
                return f"{type(exc).__name__}: {words}"
        return type(exc).__name__

    def _is_final(self, response: httpx.Response) -> bool:
        """Whether a 5xx answer is an answer to act on rather than an outage to retry (none by default)."""
        return False

    def _post_json_steps(self, path: str, body: dict[str, Any]) -> Steps[tuple[dict[str, Any], int]]:
        response, attempts = yield from self._request_steps("POST", path, json=body)
        if response.status_code >= 400:
            error = LLMResponseError(f"HTTP {response.status_code} from {path}: {response.text[:300]}")
            error.kind = "http_5xx" if response.status_code >= 500 else "http_4xx"
            raise error
        return self._json(response, path), attempts

    @staticmethod
    def _json(response: httpx.Response, what: str) -> dict[str, Any]:
        """The answer's JSON object; LLMResponseError, naming `what` was asked, for anything else."""
        try:
            data = response.json()
        except ValueError:
            raise LLMResponseError(f"{what} answered with a body that is not JSON: {response.text[:200]!r}") from None
        if not isinstance(data, dict):
            raise LLMResponseError(f"{what} answered with JSON that is not an object")
        return data

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any],
        temperature: float = 0.1,
        num_predict: int | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        return self._run(
            self._chat_steps(messages, schema=schema, temperature=temperature, num_predict=num_predict, seed=seed)
        )

    async def achat(self, messages: list[dict[str, str]], **options: Any) -> ChatResult:
        """`chat` over the async transport: the same request, retries and checks; takes `chat`'s options."""
        return await self._arun(self._chat_steps(messages, **options))

    def _chat_steps(self, messages: list[dict[str, str]], **options: Any) -> Steps[ChatResult]:
        """`chat`'s options: `schema`, and `temperature`, `num_predict`, `seed` with `chat`'s defaults."""
        body = self._chat_body(messages, **{"temperature": 0.1, "num_predict": None, "seed": None, **options})
        started = time.perf_counter()
        data, attempts = yield from self._post_json_steps(self.chat_path, body)
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
        return {
            "model": self.model,
            "messages": messages,
            "format": options["schema"],
            "options": {"temperature": options["temperature"], **given_options(options, "num_predict", "seed")},
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
        return {
            "model": self.model,
            "messages": messages,
            "temperature": options["temperature"],
            "stream": False,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "interview_grade", "schema": options["schema"], "strict": True},
            },
            **given_options(options, "seed", num_predict="max_tokens"),
        }

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

    def _request_steps(self, method: str, path: str, **kwargs: Any) -> Steps[tuple[httpx.Response, int]]:
        body = kwargs.get("json")
        asks_json_schema = (
            path == self.chat_path
            and isinstance(body, dict)
            and (body.get("response_format") or {}).get("type") == "json_schema"
        )
        if not asks_json_schema:
            return (yield from super()._request_steps(method, path, **kwargs))
        json_object_kwargs = {**kwargs, "json": self._json_object_form(body)}
        if self.base_url in JSON_OBJECT_SCHEMA_SERVERS:
            return (yield from super()._request_steps(method, path, **json_object_kwargs))
        response, attempts = yield from super()._request_steps(method, path, **kwargs)
        if not self._refuses_json_schema(response):
            return response, attempts
        JSON_OBJECT_SCHEMA_SERVERS.add(self.base_url)
        response, more = yield from super()._request_steps(method, path, **json_object_kwargs)
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


def _local_client(**options: Any) -> BaseLLMClient:
    """The `local` backend (a checkpoint in this process, `local.py`), imported only when it is used."""
    from .local import LocalTransformersClient

    return LocalTransformersClient(**options)


CLIENTS: dict[str, Callable[..., BaseLLMClient]] = {
    "ollama": OllamaClient,
    "openai": OpenAICompatibleClient,
    "local": _local_client,
}
