"""`FakeOllamaServer`: Ollama's native API on loopback, chat and model list, and model management as Ollama
does it: blobs checked against their digest, create (every referenced blob uploaded first), show and delete."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from .grader import Mode
from .server import DEFAULT_MODEL, FakeLLMServer, RecordedRequest, Reply, count_tokens, json_reply

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

    def _more_routes(self, method: str, route: str, body: Any, raw: bytes) -> Reply | None:
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

    def _blob(self, method: str, digest: str, raw: bytes) -> Reply:
        if not _BLOB_DIGEST.match(digest):
            return json_reply(400, {"error": "invalid digest format"})
        with self._lock:
            exists = digest in self._blobs
        if method == "HEAD":
            return Reply(200 if exists else 404, b"")
        received = f"sha256:{hashlib.sha256(raw).hexdigest()}"
        if received != digest:
            return json_reply(400, {"error": f'digest mismatch, expected "{digest}", got "{received}"'})
        with self._lock:
            self._blobs[digest] = raw
        return Reply(200 if exists else 201, b"")

    def _create(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return json_reply(400, {"error": "missing request body"})
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not _MODEL_NAME.match(name):
            return json_reply(400, {"error": "invalid model name"})
        problem, status = self._create_problem(body)
        if problem:
            return json_reply(status, {"error": problem})
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
            return json_reply(200, {"status": "success"})
        lines = "".join(json.dumps({"status": status}) + "\n" for status in statuses)
        return Reply(200, lines.encode(), "application/x-ndjson")

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

    def _named(self, body: Any) -> tuple[str | None, Reply | None]:
        """The known model a show/delete request names, or the error reply."""
        name = (body.get("model") or body.get("name")) if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return None, json_reply(400, {"error": "model is required"})
        known = self._known_name(name)
        if known is None:
            return None, json_reply(404, {"error": f"model '{name}' not found"})
        return known, None

    def _show(self, body: Any) -> Reply:
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
        return json_reply(
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

    def _delete(self, body: Any) -> Reply:
        name, error = self._named(body)
        if error:
            return error
        with self._lock:
            self.models = tuple(model for model in self.models if model != name)
            self._created.pop(name or "", None)
        return Reply(200, b"")

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

    def _chat_reply(self, model: str, body: dict[str, Any], content: str, elapsed_ns: int) -> Reply:
        created_at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        prompt_tokens = count_tokens("".join(str(m.get("content", "")) for m in body["messages"]))
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
            "eval_count": count_tokens(content),
            "eval_duration": elapsed_ns // 2,
        }
        if body.get("stream") is False:
            return json_reply(200, final)
        # Ollama streams unless told not to: newline-delimited chunks, the content in the non-final ones.
        message = {"role": "assistant", "content": content}
        chunk = {"model": model, "created_at": created_at, "message": message, "done": False}
        final["message"] = {"role": "assistant", "content": ""}
        lines = "".join(json.dumps(part, ensure_ascii=False) + "\n" for part in (chunk, final))
        return Reply(200, lines.encode(), "application/x-ndjson")
