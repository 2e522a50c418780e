"""Real LLM servers on loopback: Ollama's native API and the OpenAI-compatible chat API, over real HTTP.

Tests, the Celery worker test and the benchmarks talk to these exactly as production talks to Ollama or vLLM,
so what is checked is the bytes on the wire, not a mock of our client. Each chat call takes the next mode from
a script (`server.script("invalid_json", "valid")`), then `default_mode`:

- ``valid``: a schema-valid grade computed from the prompt, like a (very simple) grader would: the score follows
  the share of expected concepts found in the candidate's answer, and the breakdown sums to it.
- ``invalid_json``: truncated JSON. ``schema_invalid``: JSON, wrong shape. ``out_of_range``: right shape,
  numbers past the bounds.
- ``slow``: waits ``slow_seconds``, then valid. ``error_500``: HTTP 500. ``garbage_envelope``: HTTP 200, not JSON.

`FakeOllamaServer` also manages models as Ollama does: blobs (`HEAD`/`POST /api/blobs/sha256:<hex>`, the bytes
checked against the digest), `POST /api/create` (every digest in `files`/`adapters` must have been uploaded; the
new model is then listed and answers chats), `POST /api/show` and `DELETE /api/delete`.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import threading
import time
import unicodedata
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal, NamedTuple, get_args

from evaluation.llm.schema import BREAKDOWN_MAXIMA, SCORE_MAX

Mode = Literal["valid", "invalid_json", "schema_invalid", "out_of_range", "slow", "error_500", "garbage_envelope"]
MODES: frozenset[str] = frozenset(get_args(Mode))

DEFAULT_MODEL = "llama3.2:3b"

INVALID_JSON_CONTENT = '{"score": 7,'
SCHEMA_INVALID_CONTENT = json.dumps({"score": "high", "breakdown": {"completeness": 2}, "justification": 5})
OUT_OF_RANGE_CONTENT = json.dumps(
    {
        "score": 14,
        "breakdown": {"completeness": 5, "technical_depth": 4.5, "clarity": 3, "key_concepts": 2.5},
        "justification": "Far beyond every expectation.",
        "strengths": ["Everything"],
        "improvements": ["Nothing"],
        "concepts_covered": ["all"],
        "missing_concepts": [],
    }
)


def closed_port_url() -> str:
    """An http://127.0.0.1:PORT URL with nothing listening: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- the deterministic "grader" behind the valid mode -------------------------------------------------------

_CONCEPTS_LINE = re.compile(r"^(?:Expected concepts|Conceptos esperados):[ \t]*(.*)$", re.MULTILINE)
_ANSWER = re.compile(r"<candidate_answer>\n?(.*?)\n?</candidate_answer>", re.DOTALL)
_NO_CONCEPTS = {"(none)", "(ninguno)"}


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def grade_for(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The grade the valid mode returns for these chat messages (public so tests can predict it)."""
    user_texts = [str(m.get("content")) for m in messages if m.get("role") == "user"]
    prompt = next((text for text in user_texts if "<candidate_answer>" in text), "")
    spanish = "Conceptos esperados:" in prompt
    line = _CONCEPTS_LINE.search(prompt)
    listed = line.group(1).strip() if line else ""
    concepts = [] if listed in _NO_CONCEPTS else [c.strip() for c in listed.split(",") if c.strip()]
    answer_match = _ANSWER.search(prompt)
    answer = answer_match.group(1).strip() if answer_match else ""
    folded = _fold(answer)
    covered = [c for c in concepts if _fold(c) in folded]
    missing = [c for c in concepts if c not in covered]

    words = len(answer.split())
    coverage = len(covered) / len(concepts) if concepts else 0.5
    score = round(min(SCORE_MAX, 1.0 + 8.0 * coverage + min(words, 80) / 80), 1) if words else 0.0
    names = list(BREAKDOWN_MAXIMA)
    breakdown = {name: round(score * BREAKDOWN_MAXIMA[name] / SCORE_MAX, 2) for name in names[:-1]}
    breakdown[names[-1]] = round(score - sum(breakdown.values()), 2)

    if spanish:
        justification = f"La respuesta cubre {len(covered)} de {len(concepts)} conceptos esperados. Nota {score}."
        strengths = [f"Explica {c}" for c in covered] or ["Responde a la pregunta"]
        improvements = [f"Menciona {c}" for c in missing] or ["Añade un ejemplo concreto"]
    else:
        justification = f"The answer covers {len(covered)} of {len(concepts)} expected concepts. Score {score}."
        strengths = [f"Explains {c}" for c in covered] or ["Answers the question"]
        improvements = [f"Cover {c}" for c in missing] or ["Add a concrete example"]
    return {
        "score": score,
        "breakdown": breakdown,
        "justification": justification,
        "strengths": strengths,
        "improvements": improvements,
        "concepts_covered": covered,
        "missing_concepts": missing,
    }


# --- the server ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any  # the parsed JSON body; None when there was none or it was not JSON
    headers: dict[str, str]  # lower-cased names


class _Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"


_DROP = _Reply(0, b"")  # the server is stopping: close the connection without answering


def _json_reply(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx's pool expects
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't let them wait for an ACK
    server: _LoopbackHTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.fake._respond(self.command, self.path, raw, headers)
        if reply is _DROP:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer carries the headers of the body, never the body
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _LoopbackHTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # benchmarks open many connections at once; the default backlog of 5 drops SYNs

    def __init__(self, fake: FakeLLMServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads idling on keep-alive connections, so `server_close` can join them."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up leaves a broken pipe: that is the test working, not a failure.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class FakeLLMServer:
    """A loopback LLM server on 127.0.0.1, port chosen by the OS. Use it as a context manager."""

    chat_path: ClassVar[str]
    models_path: ClassVar[str]

    def __init__(
        self, *, models: tuple[str, ...] = (DEFAULT_MODEL,), default_mode: Mode = "valid", slow_seconds: float = 1.0
    ) -> None:
        self.models = tuple(models)
        self.slow_seconds = slow_seconds
        self.default_mode = default_mode
        self._lock = threading.Lock()
        self._script: deque[Mode] = deque()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd: _LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> FakeLLMServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        self._httpd = _LoopbackHTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # releases handlers waiting in slow mode
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()  # joins the handler threads
        thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- behaviour and what was received

    @property
    def default_mode(self) -> Mode:
        return self._default_mode

    @default_mode.setter
    def default_mode(self, mode: Mode) -> None:
        self._default_mode = self._checked(mode)

    def script(self, *modes: Mode) -> None:
        """Queue modes for the next chat calls, one per call; `default_mode` answers after them."""
        checked = [self._checked(mode) for mode in modes]
        with self._lock:
            self._script.extend(checked)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == self.chat_path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @staticmethod
    def _checked(mode: str) -> Mode:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {sorted(MODES)}")
        return mode  # type: ignore[return-value]

    def _next_mode(self) -> Mode:
        with self._lock:
            return self._script.popleft() if self._script else self._default_mode

    # --- HTTP

    def _respond(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> _Reply:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self._requests.append(RecordedRequest(method, path, body, headers))
        route = path.split("?", 1)[0]
        if method == "GET" and route == self.models_path:
            return _json_reply(200, self._models_payload())
        if method == "POST" and route == self.chat_path:
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return _json_reply(400, self._error_payload("invalid request: expected a JSON body with messages"))
            return self._chat(body)
        return self._more_routes(method, route, body, raw) or _Reply(
            404, b"404 page not found", "text/plain; charset=utf-8"
        )

    def _chat(self, body: dict[str, Any]) -> _Reply:
        started = time.perf_counter_ns()
        model = str(body.get("model") or "")
        if not self._serves(model):
            return _json_reply(404, self._model_missing_payload(model))
        problem = self._protocol_problem(body)
        if problem:
            return _json_reply(400, self._error_payload(problem))
        mode = self._next_mode()
        if mode == "error_500":
            return _json_reply(500, self._error_payload("llama runner process has terminated: exit status 2"))
        if mode == "garbage_envelope":
            return _Reply(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        if mode == "slow" and self._stopping.wait(self.slow_seconds):
            return _DROP
        content = {
            "invalid_json": INVALID_JSON_CONTENT,
            "schema_invalid": SCHEMA_INVALID_CONTENT,
            "out_of_range": OUT_OF_RANGE_CONTENT,
        }.get(mode) or json.dumps(grade_for(body["messages"]), ensure_ascii=False)
        return self._chat_reply(model, body, content, time.perf_counter_ns() - started)

    # --- protocol specifics

    def _more_routes(self, method: str, route: str, body: Any, raw: bytes) -> _Reply | None:
        """Endpoints beyond chat and the model list; None: not one of them (404)."""
        return None

    def _serves(self, model: str) -> bool:
        return model in self.models

    def _protocol_problem(self, body: dict[str, Any]) -> str:
        return ""

    def _models_payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def _error_payload(self, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def _model_missing_payload(self, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def _chat_reply(self, model: str, body: dict[str, Any], content: str, elapsed_ns: int) -> _Reply:
        raise NotImplementedError


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


_BLOB_ROUTE = re.compile(r"^/api/blobs/(?P<digest>[^/]+)$")
_BLOB_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MODEL_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*){0,2}(?::[A-Za-z0-9_][A-Za-z0-9._-]*)?$"
)
_MESSAGE_ROLES = {"system", "user", "assistant", "tool"}
DEFAULT_TEMPLATE = "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"


def _full_name(name: str) -> str:
    """Ollama's name for a model: a name without a tag is `name:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _quoted_block(text: str) -> str:
    return f'"""{text}"""'


class FakeOllamaServer(FakeLLMServer):
    """Ollama's native API: `POST /api/chat`, `GET /api/tags`, and model management (blobs, create, show,
    delete). What was uploaded and created is kept: `blobs`, `created`, `create_requests`."""

    chat_path = "/api/chat"
    models_path = "/api/tags"

    def __init__(
        self, *, models: tuple[str, ...] = (DEFAULT_MODEL,), default_mode: Mode = "valid", slow_seconds: float = 1.0
    ) -> None:
        super().__init__(models=models, default_mode=default_mode, slow_seconds=slow_seconds)
        self._blobs: dict[str, bytes] = {}
        self._created: dict[str, dict[str, Any]] = {}

    @property
    def blobs(self) -> dict[str, bytes]:
        """Uploaded blobs by digest (`sha256:<hex>`), a snapshot."""
        with self._lock:
            return dict(self._blobs)

    @property
    def created(self) -> dict[str, dict[str, Any]]:
        """The body of the create request behind each model made here, by full name (`name:tag`)."""
        with self._lock:
            return dict(self._created)

    @property
    def create_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/create"]

    def _serves(self, model: str) -> bool:
        # Ollama reads a name without a tag as `name:latest`.
        return model in self.models or f"{model}:latest" in self.models

    def _known_name(self, model: str) -> str | None:
        return next((name for name in (model, f"{model}:latest") if name in self.models), None)

    # --- model management

    def _more_routes(self, method: str, route: str, body: Any, raw: bytes) -> _Reply | None:
        blob = _BLOB_ROUTE.match(route)
        if blob and method in ("HEAD", "POST"):
            return self._blob(method, blob.group("digest"), raw)
        if method == "POST" and route == "/api/create":
            return self._create(body)
        if method == "POST" and route == "/api/show":
            return self._show(body)
        if method == "DELETE" and route == "/api/delete":
            return self._delete(body)
        return None

    def _blob(self, method: str, digest: str, raw: bytes) -> _Reply:
        if not _BLOB_DIGEST.match(digest):
            return _json_reply(400, {"error": "invalid digest format"})
        with self._lock:
            exists = digest in self._blobs
        if method == "HEAD":
            return _Reply(200 if exists else 404, b"")
        received = f"sha256:{hashlib.sha256(raw).hexdigest()}"
        if received != digest:
            return _json_reply(400, {"error": f'digest mismatch, expected "{digest}", got "{received}"'})
        with self._lock:
            self._blobs[digest] = raw
        return _Reply(200 if exists else 201, b"")

    def _create(self, body: Any) -> _Reply:
        if not isinstance(body, dict):
            return _json_reply(400, {"error": "missing request body"})
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not _MODEL_NAME.match(name):
            return _json_reply(400, {"error": "invalid model name"})
        problem, status = self._create_problem(body)
        if problem:
            return _json_reply(status, {"error": problem})
        full_name = _full_name(name)
        with self._lock:
            self._created[full_name] = body
            if full_name not in self.models:
                self.models = (*self.models, full_name)
        statuses = [
            *(f"using existing layer {digest}" for digest in (body.get("files") or {}).values()),
            *(f"using existing layer {digest}" for digest in (body.get("adapters") or {}).values()),
            "writing manifest",
            "success",
        ]
        if body.get("stream") is False:
            return _json_reply(200, {"status": "success"})
        lines = "".join(json.dumps({"status": status}) + "\n" for status in statuses)
        return _Reply(200, lines.encode(), "application/x-ndjson")

    def _create_problem(self, body: dict[str, Any]) -> tuple[str, int]:
        """Why Ollama would refuse this create request (and the status), or ("", 0)."""
        uploads: list[tuple[str, Any]] = []
        for key in ("files", "adapters"):
            mapping = body.get(key)
            if mapping is None:
                continue
            if not isinstance(mapping, dict):
                return f"{key} must be an object of file names to digests", 400
            uploads.extend(mapping.items())
        with self._lock:
            blobs = set(self._blobs)
        for file_name, digest in uploads:
            if file_name.startswith("/") or ".." in file_name.split("/"):
                return "file path must be relative", 400
            if not isinstance(digest, str) or not _BLOB_DIGEST.match(digest):
                return f"invalid digest format for {file_name}", 400
            if digest not in blobs:
                return f"blob not found for {file_name} (digest {digest}): no such file or directory", 400
        base = body.get("from")
        if not base and not body.get("files"):
            return "neither 'from' or 'files' was specified", 400
        if base and not self._serves(str(base)):
            return f"model '{base}' not found", 404
        parameters = body.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            return "parameters must be an object", 400
        if isinstance(parameters, dict) and "typical_p" in parameters:
            return "typical_p is deprecated and cannot be set as a model parameter", 400
        messages = body.get("messages")
        if messages is not None and not (
            isinstance(messages, list)
            and all(
                isinstance(m, dict) and m.get("role") in _MESSAGE_ROLES and isinstance(m.get("content"), str)
                for m in messages
            )
        ):
            return "messages must be a list of {role, content} with a known role", 400
        license_ = body.get("license")
        if license_ is not None and not (
            isinstance(license_, str) or (isinstance(license_, list) and all(isinstance(x, str) for x in license_))
        ):
            return "license must be a string or a list of strings", 400
        return "", 0

    def _named(self, body: Any) -> tuple[str | None, _Reply | None]:
        """The known model a show/delete request names, or the error reply."""
        name = (body.get("model") or body.get("name")) if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return None, _json_reply(400, {"error": "model is required"})
        known = self._known_name(name)
        if known is None:
            return None, _json_reply(404, {"error": f"model '{name}' not found"})
        return known, None

    def _show(self, body: Any) -> _Reply:
        name, error = self._named(body)
        if error:
            return error
        with self._lock:
            created = self._created.get(name or "")
        if created is None:
            created = {"from": "", "template": DEFAULT_TEMPLATE, "parameters": {"stop": ["<|eot_id|>"]}}
        files = {**(created.get("files") or {}), **(created.get("adapters") or {})}
        parameters = created.get("parameters") or {}
        license_ = created.get("license") or ""
        license_text = "\n".join(license_) if isinstance(license_, list) else license_
        parameter_items = [
            (key, json.dumps(item) if key == "stop" else str(item))
            for key, value in parameters.items()
            for item in (value if isinstance(value, list) else [value])
        ]
        base_blob = next(iter(files.values()), f"sha256:{hashlib.sha256(str(name).encode()).hexdigest()}")
        modelfile = [
            '# Modelfile generated by "ollama show"',
            "# To build a new Modelfile based on this one, replace the FROM line with:",
            f"# FROM {name}",
            "",
            f"FROM /root/.ollama/models/blobs/{base_blob.replace(':', '-')}",
            f"TEMPLATE {_quoted_block(created.get('template') or DEFAULT_TEMPLATE)}",
        ]
        if created.get("system"):
            modelfile.append(f"SYSTEM {_quoted_block(created['system'])}")
        modelfile.extend(f"PARAMETER {key} {shown}" for key, shown in parameter_items)
        modelfile.extend(f"MESSAGE {m['role']} {_quoted_block(m['content'])}" for m in created.get("messages") or [])
        if license_text:
            modelfile.append(f"LICENSE {_quoted_block(license_text)}")
        return _json_reply(
            200,
            {
                "license": license_text,
                "modelfile": "\n".join(modelfile) + "\n",
                "parameters": "\n".join(f"{key:<30} {shown}" for key, shown in parameter_items),
                "template": created.get("template") or DEFAULT_TEMPLATE,
                "system": created.get("system") or "",
                "details": {
                    "parent_model": str(created.get("from") or ""),
                    "format": "gguf",
                    "family": "llama",
                    "families": ["llama"],
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
                "messages": created.get("messages") or [],
                "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
                "capabilities": ["completion"],
                "modified_at": "2025-05-10T08:06:48.639712648-07:00",
            },
        )

    def _delete(self, body: Any) -> _Reply:
        name, error = self._named(body)
        if error:
            return error
        with self._lock:
            self.models = tuple(model for model in self.models if model != name)
            self._created.pop(name or "", None)
        return _Reply(200, b"")

    def _protocol_problem(self, body: dict[str, Any]) -> str:
        schema = body.get("format")
        if schema is not None and schema != "json" and not isinstance(schema, dict):
            return 'invalid format: expected "json" or a valid JSON schema'
        return ""

    def _models_payload(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2025-05-10T08:06:48.639712648-07:00",
                    "size": 2019393189,
                    "digest": hashlib.sha256(name.encode()).hexdigest(),
                    "details": {
                        "parent_model": "",
                        "format": "gguf",
                        "family": "llama",
                        "families": ["llama"],
                        "parameter_size": "3.2B",
                        "quantization_level": "Q4_K_M",
                    },
                }
                for name in self.models
            ]
        }

    def _error_payload(self, message: str) -> dict[str, Any]:
        return {"error": message}

    def _model_missing_payload(self, model: str) -> dict[str, Any]:
        return {"error": f"model '{model}' not found"}

    def _chat_reply(self, model: str, body: dict[str, Any], content: str, elapsed_ns: int) -> _Reply:
        created_at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        prompt_tokens = _tokens("".join(str(m.get("content", "")) for m in body["messages"]))
        final = {
            "model": model,
            "created_at": created_at,
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": elapsed_ns,
            "load_duration": elapsed_ns // 10,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": elapsed_ns // 3,
            "eval_count": _tokens(content),
            "eval_duration": elapsed_ns // 2,
        }
        if body.get("stream") is False:
            return _json_reply(200, final)
        # Ollama streams unless told not to: newline-delimited chunks, the content in the non-final ones.
        message = {"role": "assistant", "content": content}
        chunk = {"model": model, "created_at": created_at, "message": message, "done": False}
        final["message"] = {"role": "assistant", "content": ""}
        lines = "".join(json.dumps(part, ensure_ascii=False) + "\n" for part in (chunk, final))
        return _Reply(200, lines.encode(), "application/x-ndjson")


_RESPONSE_FORMATS = {"text", "json_object", "json_schema"}


class FakeOpenAIServer(FakeLLMServer):
    """The OpenAI-compatible API (vLLM, llama.cpp server, LM Studio): `POST /v1/chat/completions`, `GET /v1/models`."""

    chat_path = "/v1/chat/completions"
    models_path = "/v1/models"

    def __init__(self, *, json_schema_refused: bool = False, **options: Any) -> None:
        """`json_schema_refused`: answer as llama-cpp-python's server (0.3.x) does, HTTP 500 to
        `response_format: {type: json_schema}`, while `{type: json_object, schema}` is accepted."""
        super().__init__(**options)
        self.json_schema_refused = json_schema_refused

    def _chat(self, body: dict[str, Any]) -> _Reply:
        response_format = body.get("response_format")
        if (
            self.json_schema_refused
            and isinstance(response_format, dict)
            and response_format.get("type") == "json_schema"
        ):
            # llama-cpp-python validates the request body with a literal type and reports the failure as a 500.
            message = (
                "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
            )
            return _json_reply(
                500, {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}}
            )
        return super()._chat(body)

    def _protocol_problem(self, body: dict[str, Any]) -> str:
        response_format = body.get("response_format")
        if response_format is None:
            return ""
        if not isinstance(response_format, dict) or response_format.get("type") not in _RESPONSE_FORMATS:
            return "response_format.type must be one of text, json_object, json_schema"
        json_schema = response_format.get("json_schema")
        if response_format["type"] == "json_schema" and not (
            isinstance(json_schema, dict) and json_schema.get("name") and isinstance(json_schema.get("schema"), dict)
        ):
            return "response_format.json_schema needs a name and a schema object"
        return ""

    def _models_payload(self) -> dict[str, Any]:
        data = [{"id": name, "object": "model", "created": 1746889608, "owned_by": "library"} for name in self.models]
        return {"object": "list", "data": data}

    def _error_payload(self, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}

    def _model_missing_payload(self, model: str) -> dict[str, Any]:
        return {
            "error": {
                "message": f"The model `{model}` does not exist.",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
        }

    def _chat_reply(self, model: str, body: dict[str, Any], content: str, elapsed_ns: int) -> _Reply:
        prompt_tokens = _tokens("".join(str(m.get("content", "")) for m in body["messages"]))
        completion_tokens = _tokens(content)
        return _json_reply(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )
