"""Request middleware: a request id on every request and response, and JSON error bodies for every error
under /api/ that the API's own handlers never saw (unknown paths, wrong methods, CSRF, a crash in a
middleware), so an API client never receives an HTML page.

The request id comes from the caller's `X-Request-ID` header when it is a sane token, else a new one; it is
on `request.request_id`, in the `X-Request-ID` response header, in every API error body, and in
`request_id_get()` (and the `RequestIdLogFilter`) for log lines written while the request runs.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import error_body

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from the caller are echoed in headers and logs: only short tokens of safe characters are kept.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def request_id_get() -> str:
    """The id of the request being handled in this context, '-' outside a request."""
    return _request_id.get()


def request_id_bind(request_id: str) -> contextvars.Token[str]:
    """Make `request_id` this context's (a Celery task carrying its request's id); reset with the token."""
    return _request_id.set(request_id)


def request_id_unbind(token: contextvars.Token[str]) -> None:
    _request_id.reset(token)


class RequestIdLogFilter(logging.Filter):
    """Adds `record.request_id`, so a log format can say `%(request_id)s`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class ApiJsonErrorsMiddleware:
    """Turns a non-JSON error response under /api/ into the API's error body. The API's exception handlers
    answer everything raised inside an endpoint; this catches what happens before or around them (Django's
    404 for an unknown path, 405, a CSRF refusal, a 500 page for a crash outside the API's reach)."""

    PREFIX = "/api/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(self.PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            json_response = JsonResponse(error_body(request, status=response.status_code), status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response
