"""The HTTP plumbing every fake server shares: a threaded loopback server on a port the OS picks, keep-alive
connections woken and joined on stop, the script of modes, and the record of what was received. The
protocol classes fill in the routes and the payloads."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, NamedTuple

from .grader import INVALID_JSON_CONTENT, MODES, OUT_OF_RANGE_CONTENT, SCHEMA_INVALID_CONTENT, Mode, grade_for

DEFAULT_MODEL = "llama3.2:3b"


def closed_port_url() -> str:
    """An http://127.0.0.1:PORT URL with nothing listening: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def count_tokens(text: str) -> int:
    """A rough token count for the usage fields: about four characters a token."""
    return max(1, len(text) // 4)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any  # the parsed JSON body; None when there was none or it was not JSON
    headers: dict[str, str]  # lower-cased names


class Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"


_DROP = Reply(0, b"")  # the server is stopping: close the connection without answering


def json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode())


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
    request_queue_size = 1024  # benchmarks open hundreds of connections at once; the default backlog of 5 drops SYNs

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
        self._in_flight = 0
        self.max_in_flight = 0  # the most chat requests this server was ever answering at once
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

    def _respond(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Reply:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self._requests.append(RecordedRequest(method, path, body, headers))
        route = path.split("?", 1)[0]
        if method == "GET" and route == self.models_path:
            return json_reply(200, self._models_payload())
        if method == "POST" and route == self.chat_path:
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return json_reply(400, self._error_payload("invalid request: expected a JSON body with messages"))
            return self._counted_chat(body)
        return self._more_routes(method, route, body, raw) or Reply(
            404, b"404 page not found", "text/plain; charset=utf-8"
        )

    def _counted_chat(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._chat(body)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _chat(self, body: dict[str, Any]) -> Reply:
        started = time.perf_counter_ns()
        model = str(body.get("model") or "")
        if not self._serves(model):
            return json_reply(404, self._model_missing_payload(model))
        problem = self._protocol_problem(body)
        if problem:
            return json_reply(400, self._error_payload(problem))
        mode = self._next_mode()
        if mode == "error_500":
            return json_reply(500, self._error_payload("llama runner process has terminated: exit status 2"))
        if mode == "garbage_envelope":
            return Reply(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        if mode == "slow" and self._stopping.wait(self.slow_seconds):
            return _DROP
        content = {
            "invalid_json": INVALID_JSON_CONTENT,
            "schema_invalid": SCHEMA_INVALID_CONTENT,
            "out_of_range": OUT_OF_RANGE_CONTENT,
        }.get(mode) or json.dumps(self.grade(body["messages"]), ensure_ascii=False)
        return self._chat_reply(model, body, content, time.perf_counter_ns() - started)

    def grade(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The valid mode's grade; a subclass may judge differently (tests/llm_servers/lenient.py)."""
        return grade_for(messages)

    # --- protocol specifics

    def _more_routes(self, method: str, route: str, body: Any, raw: bytes) -> Reply | None:
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

    def _chat_reply(self, model: str, body: dict[str, Any], content: str, elapsed_ns: int) -> Reply:
        raise NotImplementedError
