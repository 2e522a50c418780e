"""The one NinjaAPI: routers from each app, authentication, and domain errors mapped to HTTP in one place."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from evaluation.api import router as evaluation_router
from evaluation.auth import ApiKeyAuth, StaffSessionAuth
from ready4hire.errors import DomainError
from training.api import datasets_router
from training.api import router as training_router
from training.api.comparisons import router as comparisons_router
from training.api.finetune import router as finetune_router
from training.api.modelfiles import router as modelfiles_router
from training.api.versions import router as model_versions_router

api = NinjaAPI(
    title="Ready4Hire Trainer API",
    version="1",
    description="Grade interview answers with a local LLM, curate the grades, and fine-tune the grader.",
    auth=[ApiKeyAuth(), StaffSessionAuth()],
    docs_url="/docs",
)

api.add_router("/", evaluation_router)
api.add_router("/training/", training_router)
api.add_router("/modelfiles", modelfiles_router)
api.add_router("/datasets", datasets_router)
api.add_router("/comparisons", comparisons_router)
api.add_router("/model-versions", model_versions_router)
api.add_router("/finetune-runs", finetune_router)


def _error(request: HttpRequest, status: int, code: str, detail: str, **extra: object) -> HttpResponse:
    return api.create_response(request, {"code": code, "detail": detail, **extra}, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return _error(request, exc.status, exc.code, str(exc), **({"field": exc.field} if exc.field else {}))


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "unauthorized", "Send an API key as 'Authorization: Bearer <key>' or log in as staff.")


@api.exception_handler(ValidationError)
def on_invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        # ninja reports locations as ("body", "payload", "answer"); the caller only knows the field path.
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload", "query", "path")]
        errors.append({"field": ".".join(location) or "body", "message": error.get("msg", "invalid")})
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return _error(request, 422, "invalid_input", f"Invalid input: {fields}.", errors=errors)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    return _error(request, exc.status_code, code, str(exc))
