"""The one NinjaAPI: routers from each app, authentication, and domain errors mapped to HTTP in one place."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from evaluation.api import router as evaluation_router
from evaluation.auth import undeclared
from ready4hire.errors import STATUS_CODES, DomainError, error_body
from ready4hire.openapi import openapi_with_errors
from training.api import datasets_router
from training.api import router as training_router
from training.api.calibrations import router as calibrations_router
from training.api.comparisons import router as comparisons_router
from training.api.finetune import router as finetune_router
from training.api.modelfiles import router as modelfiles_router
from training.api.versions import router as model_versions_router


class _DocumentedErrorsAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        return openapi_with_errors(super().get_openapi_schema(**kwargs))


api = _DocumentedErrorsAPI(
    title="Ready4Hire Trainer API",
    version="1",
    description="Grade interview answers with a local LLM, curate the grades, and fine-tune the grader.",
    # Each router or operation declares its scope (evaluation.auth.scoped); this default, for one that
    # forgot, lets only admin keys and superusers through.
    auth=undeclared(),
    docs_url="/docs",
)

api.add_router("/", evaluation_router)
api.add_router("/training/", training_router)
api.add_router("/modelfiles", modelfiles_router)
api.add_router("/datasets", datasets_router)
api.add_router("/comparisons", comparisons_router)
api.add_router("/model-versions", model_versions_router)
api.add_router("/finetune-runs", finetune_router)
api.add_router("/calibrations", calibrations_router)


logger = logging.getLogger("ready4hire.api")


def _error(request: HttpRequest, status: int, code: str | None, detail: str = "", **extra: object) -> HttpResponse:
    body = error_body(request, status=status, code=code, detail=detail, **extra)
    return api.create_response(request, body, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = _error(request, exc.status, exc.code, str(exc), **({"field": exc.field} if exc.field else {}))
    if getattr(exc, "retry_after", None):  # a 429 (ready4hire.ratelimit.Throttled) says when to come back
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "unauthorized")


@api.exception_handler(ValidationError)
def on_invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        # ninja reports locations as ("body", "payload", "answer"); the caller only knows the field path.
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload", "query", "path")]
        errors.append({"field": ".".join(location) or "body", "message": error.get("msg", "invalid")})
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    field = errors[0]["field"] if errors else "body"
    return _error(request, 422, "invalid_input", f"Invalid input: {fields}.", field=field, errors=errors)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, STATUS_CODES.get(exc.status_code, "error"), str(exc))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found")


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def on_database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The database is down or restarting: nothing was lost (a started job ends done or failed, swept by
    ready4hire/jobs.py), so the caller may retry."""
    logger.warning("Database unavailable in %s %s: %s", request.method, request.path, exc)
    response = _error(request, 503, "database_unavailable", "The database is unavailable; try again shortly.")
    response["Retry-After"] = "5"
    return response


@api.exception_handler(Exception)
def on_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Anything else is our bug: logged with its traceback and the request id, answered without either."""
    logger.exception(
        "Unhandled error in %s %s (request id %s)", request.method, request.path, getattr(request, "request_id", "-")
    )
    return _error(request, 500, "server_error")
