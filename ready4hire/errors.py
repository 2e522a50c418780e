"""Domain errors: raised by services, mapped to HTTP by the API and to messages by commands and the admin;
and the one shape of an API error body, `error_body`, used by the API's handlers and the middleware."""

from __future__ import annotations

from typing import Any

# The stable `code` of an error body, by HTTP status, when no more precise one applies.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_input",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}
_DEFAULT_DETAILS: dict[int, str] = {
    400: "The request could not be understood.",
    401: "Send an API key as 'Authorization: Bearer <key>' or log in as staff.",
    403: "This request is not allowed.",
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request is too large.",
    429: "Too many requests: slow down and retry later.",
    500: "Something went wrong on our side. Quote the request id when you report it.",
    503: "The service is unavailable for a moment: retry later.",
}


def error_body(request: Any, *, status: int, code: str | None = None, detail: str = "", **extra: Any) -> dict:
    """`{"code", "detail", "request_id", ...extra}`: what every API error answers."""
    return {
        "code": code or STATUS_CODES.get(status, "error"),
        "detail": detail or _DEFAULT_DETAILS.get(status, "The request failed."),
        "request_id": getattr(request, "request_id", None),
        **extra,
    }


class DomainError(Exception):
    """A broken domain rule. Subclasses name their HTTP status and stable code as class keywords,
    `class NotFound(DomainError, status=404, code="not_found"): ...`, so each error is one line."""

    status = 400
    code = "error"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class NotFound(DomainError, status=404, code="not_found"): ...


class Forbidden(DomainError, status=403, code="forbidden"): ...


class InvalidInput(DomainError, status=422, code="invalid_input"): ...


class Conflict(DomainError, status=409, code="conflict"): ...
