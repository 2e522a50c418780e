"""The error responses of the OpenAPI document, declared once for every operation instead of in each
router's `response=`: which statuses an operation may answer follows from what it is (secured, has a path
id, takes input, changes state), and every one of them has the same JSON body, `ErrorOut`.

Every status an endpoint can answer is documented (clients and API fuzzers such as schemathesis check it).
"""

from __future__ import annotations

from typing import Any

from ninja import Schema
from pydantic import Field

from .errors import STATUS_CODES


class FieldErrorOut(Schema):
    field: str = Field(description="The field's path in the request: `answer`, `filters.min_score`, `page`...")
    message: str


class ErrorOut(Schema):
    """What every error under /api/ answers."""

    code: str = Field(description=f"Stable: {', '.join(sorted(set(STATUS_CODES.values())))}, or a more precise one.")
    detail: str = Field(description="For a person: what went wrong and what to do.")
    request_id: str | None = Field(description="Also in the X-Request-ID header; quote it when reporting a problem.")
    field: str | None = Field(default=None, description="The (first) field at fault, for bad input.")
    errors: list[FieldErrorOut] | None = Field(default=None, description="Every invalid field (422).")


_DESCRIPTIONS = {
    400: "Bad request: a body that is not JSON, or a request the service cannot act on.",
    401: "No valid API key or staff session.",
    403: "The key lacks the operation's scope, or the session the permission (or the CSRF token).",
    404: "The row (or a row the body names) does not exist.",
    409: "The row's state does not allow it now (already running, refused by the promotion gate...).",
    422: "Invalid input: an unknown field, a value out of range, text that cannot be stored. Names the field.",
    429: "Too many requests: the API key's rate limit (API_RATE_LIMIT or the key's own), or, for a queued grade, "
    "too many grades waiting for a worker (GRADING_MAX_PENDING). Nothing was stored; retry after `Retry-After`.",
    503: "The database (or the task broker) is unavailable for a moment: retry later.",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
_READS = {"get", "head", "options"}


def _error_statuses(method: str, operation: dict[str, Any]) -> list[int]:
    statuses = [400, 503]
    if operation.get("security"):
        statuses += [401, 403, 429]
    if any(parameter.get("in") == "path" for parameter in operation.get("parameters", ())) or method not in _READS:
        statuses.append(404)
    if method not in _READS:
        statuses.append(409)
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append(422)
    return statuses


def openapi_with_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (ninja's OpenAPI document) with the error responses of every operation and their body."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorOut"] = error_schema
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for methods in schema.get("paths", {}).values():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(method, operation):
                # An operation's own declaration (health's 503 body) wins over the shared one; ninja keys
                # responses by int, JSON by str.
                if status not in responses and str(status) not in responses:
                    responses[status] = {"description": _DESCRIPTIONS[status], "content": content}
                    if status == 429:
                        responses[status]["headers"] = _RETRY_AFTER
            operation["responses"] = dict(sorted(responses.items(), key=lambda item: int(item[0])))
    return schema
