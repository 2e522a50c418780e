"""`FakeOpenAIServer`: the OpenAI-compatible chat API (vLLM, llama.cpp server, LM Studio) on loopback, with
llama-cpp-python's refusal of `json_schema` response formats on demand."""

from __future__ import annotations

import time
import uuid
from typing import Any

from .server import FakeLLMServer, Reply, count_tokens, json_reply

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

    def _chat(self, body: dict[str, Any]) -> Reply:
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
            return json_reply(
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

    def _chat_reply(self, model: str, body: dict[str, Any], content: str, elapsed_ns: int) -> Reply:
        prompt_tokens = count_tokens("".join(str(m.get("content", "")) for m in body["messages"]))
        completion_tokens = count_tokens(content)
        return json_reply(
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
