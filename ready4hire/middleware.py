"""Request middleware: a request id on every request and response, and JSON error bodies for every error
under /api/ that the API's own handlers never saw (unknown paths, wrong methods, CSRF, a crash in a
middleware), so an API client never receives an HTML page; and the site-only wrappers of Django's
middlewares that only the admin needs, so an API request does not pay for them.

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
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.core import checks
from django.core.checks.security import base as security_checks
from django.core.checks.security import csrf as csrf_checks
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware
from django.utils.module_loading import import_string

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


class _SyncAndAsync:
    """A middleware that runs as its neighbours do: in the event loop under ASGI, where a sync-only one
    would hold a thread for the whole request and hop between it and the loop, or plainly under WSGI."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self.process(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return self.process(request, await self.get_response(request))

    def process(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


class RequestIdMiddleware(_SyncAndAsync):
    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = self._bind(request)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        return self.process(request, response)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        token = self._bind(request)
        try:
            response = await self.get_response(request)
        finally:
            _request_id.reset(token)
        return self.process(request, response)

    @staticmethod
    def _bind(request: HttpRequest) -> contextvars.Token[str]:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        return _request_id.set(request_id)

    def process(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response[REQUEST_ID_HEADER] = request.request_id  # type: ignore[attr-defined]
        return response


API_PREFIX = "/api/"


class ApiJsonErrorsMiddleware(_SyncAndAsync):
    """Turns a non-JSON error response under /api/ into the API's error body. The API's exception handlers
    answer everything raised inside an endpoint; this catches what happens before or around them (Django's
    404 for an unknown path, 405, a CSRF refusal, a 500 page for a crash outside the API's reach)."""

    def process(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            json_response = JsonResponse(error_body(request, status=response.status_code), status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response


class _SiteOnly:
    """A Django middleware (the class after this one in the bases) for every request but the API's, which go
    straight past it.

    Under ASGI each of Django's middlewares runs its `process_request`, `process_view` and `process_response`
    in the request's sync thread, a hop there and back each: ~4-5 ms of CPU per API request for the ones
    below, which do nothing for it. ninja's views are csrf_exempt (its session auth checks CSRF itself,
    `evaluation.auth`), the API's messages are English and name fields and codes, not translations, and it
    shows no admin messages. With `api_process_response` the response of an API request still goes through
    `process_response`, inline (it must be a cheap one that does no I/O). Subclasses of Django's classes, so
    the admin's checks that its middlewares are on still find them; settings.py says how the deploy ones do.
    """

    api_process_response = False
    async_mode: bool
    get_response: Callable[[HttpRequest], Any]

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)  # type: ignore[call-arg]
        site_process_view = getattr(self, "process_view", None)
        if site_process_view is not None:
            # Django's handler collects each middleware's `process_view` and, under ASGI, calls a sync one in
            # the sync thread: an async one here skips that hop for API requests.
            async def aprocess_view(request: HttpRequest, *args: Any) -> HttpResponse | None:
                if request.path.startswith(API_PREFIX):
                    return None
                return await sync_to_async(site_process_view, thread_sensitive=True)(request, *args)

            def process_view(request: HttpRequest, *args: Any) -> HttpResponse | None:
                return None if request.path.startswith(API_PREFIX) else site_process_view(request, *args)

            self.process_view = aprocess_view if self.async_mode else process_view

    def __call__(self, request: HttpRequest) -> Any:
        if not request.path.startswith(API_PREFIX):
            return super().__call__(request)  # type: ignore[misc]
        if self.async_mode:
            return self._acall_api(request)
        response = self.get_response(request)
        return self.process_response(request, response) if self.api_process_response else response

    async def _acall_api(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        return self.process_response(request, response) if self.api_process_response else response


class SiteLocaleMiddleware(_SiteOnly, LocaleMiddleware):
    pass


class SiteCsrfViewMiddleware(_SiteOnly, CsrfViewMiddleware):
    pass


class SiteMessageMiddleware(_SiteOnly, MessageMiddleware):
    pass


class SiteXFrameOptionsMiddleware(_SiteOnly, XFrameOptionsMiddleware):
    """The header on API responses too (the deploy check asks for it everywhere): a header set, no hop."""

    api_process_response = True


def _middleware_on(base: type) -> tuple[bool, bool]:
    """Whether MIDDLEWARE lists `base` or a subclass of it, and whether by `base`'s own path."""
    path = f"{base.__module__}.{base.__qualname__}"
    return any(issubclass(import_string(entry), base) for entry in settings.MIDDLEWARE), path in settings.MIDDLEWARE


@checks.register(checks.Tags.security, deploy=True)
def check_site_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Django's deploy checks of its CSRF and X-Frame-Options middlewares (W003, W016, W002, W019) look for
    their class paths in MIDDLEWARE: settings silence W002 and W003, and this asks all four again, counting
    subclasses (the Site* ones above). This module is imported by LOGGING's request id filter, so the check
    is registered whenever Django is set up."""
    found: list[checks.CheckMessage] = []
    on, by_path = _middleware_on(CsrfViewMiddleware)
    if not on:
        found.append(checks.Warning(csrf_checks.W003.msg, id="ready4hire.W003"))
    elif not by_path and not (settings.CSRF_USE_SESSIONS or settings.CSRF_COOKIE_SECURE is True):
        found.append(csrf_checks.W016)
    on, by_path = _middleware_on(XFrameOptionsMiddleware)
    if not on:
        found.append(checks.Warning(security_checks.W002.msg, id="ready4hire.W002"))
    elif not by_path and settings.X_FRAME_OPTIONS != "DENY":
        found.append(security_checks.W019)
    return found
