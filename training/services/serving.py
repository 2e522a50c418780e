"""Serve a GGUF model version with llama.cpp's OpenAI-compatible server, for grading and comparisons.

`serve_gguf(path)` starts `python -m llama_cpp.server` (the optional `[serve]` extra) as a child process on
a free loopback port, waits until `GET /v1/models` answers, yields where it listens, and stops it on exit —
a context manager, so a comparison never leaves a server behind. Nothing here imports llama_cpp: the server
runs in its own process, and this module loads without the extra.
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.conf import settings

from evaluation.llm.clients import JSON_OBJECT_SCHEMA_SERVERS
from ready4hire.errors import DomainError, InvalidInput

from ..finetune.deps import SERVE_INSTALL

CHATML_MARKER = "<|im_start|>"
STOP_GRACE_SECONDS = 10.0


class ServingFailed(DomainError, status=503, code="serving_failed"): ...


@dataclass(frozen=True)
class ServedModel:
    base_url: str  # the server root, e.g. http://127.0.0.1:38211 (the OpenAI API is under /v1)
    model: str  # the name to send as `model`
    gguf_path: str
    pid: int = field(compare=False)


def free_loopback_port() -> int:
    """A port nothing listens on right now (the OS picks it); the server binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gguf_chat_template(path: Path) -> str:
    """The chat template stored in a GGUF file ('' when it has none, or the `gguf` reader is not installed)."""
    if importlib.util.find_spec("gguf") is None:
        return ""
    from gguf import GGUFReader

    field_ = GGUFReader(str(path)).get_field("tokenizer.chat_template")
    return field_.contents() if field_ is not None else ""


def chat_format_for(path: Path) -> str | None:
    """llama-cpp-python's chat format for the file's template: "chatml" for ChatML models; otherwise None,
    which makes the server render the template stored in the file itself."""
    return "chatml" if CHATML_MARKER in gguf_chat_template(path) else None


def _log_tail(log_path: Path, limit: int = 2000) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # uvicorn's clean shutdown
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_GRACE_SECONDS)


@contextmanager
def serve_gguf(
    gguf_path: str, *, alias: str = "", n_ctx: int | None = None, startup_timeout: float | None = None
) -> Iterator[ServedModel]:
    """Serve `gguf_path` on 127.0.0.1 for the length of the `with` block."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise InvalidInput(f"Serving a GGUF model needs the [serve] extra (llama-cpp-python): {SERVE_INSTALL}")
    path = Path(gguf_path)
    if not path.is_file():
        raise InvalidInput(f"GGUF file {gguf_path} does not exist.", field="gguf_path")
    alias = alias or path.stem
    port = free_loopback_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx or settings.LLAMA_SERVER_N_CTX),
    ]
    chat_format = chat_format_for(path)
    if chat_format:
        command += ["--chat_format", chat_format]
    if settings.LLAMA_SERVER_THREADS:
        command += ["--n_threads", str(settings.LLAMA_SERVER_THREADS)]
    base_url = f"http://127.0.0.1:{port}"
    timeout = startup_timeout or settings.LLAMA_SERVER_STARTUP_TIMEOUT
    with tempfile.TemporaryDirectory(prefix="llama-server-") as scratch:
        log_path = Path(scratch) / "server.log"
        with log_path.open("wb") as log:
            # Its own session: an interrupt meant for us (Ctrl-C) does not reach it before we stop it cleanly.
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            _wait_until_ready(process, base_url, timeout=timeout, log_path=log_path)
            yield ServedModel(base_url=base_url, model=alias, gguf_path=str(path), pid=process.pid)
        finally:
            _stop(process)
            # The port may serve something else later: what the client learnt about this server goes with it.
            JSON_OBJECT_SCHEMA_SERVERS.discard(base_url)


def _wait_until_ready(process: subprocess.Popen, base_url: str, *, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServingFailed(
                    f"llama.cpp server exited with code {process.returncode} before serving: {_log_tail(log_path)}"
                )
            try:
                if client.get(f"{base_url}/v1/models").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise ServingFailed(f"llama.cpp server did not answer within {timeout:.0f} s: {_log_tail(log_path)}")
