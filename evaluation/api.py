"""The grading API (mounted at /api/v1/ by ready4hire.api): grade an answer, list and read grades, health."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from ready4hire.errors import Forbidden
from ready4hire.pagination import Pagination
from ready4hire.ratelimit import Throttled

from .async_grading import evaluation_submit_async
from .auth import scoped, undeclared
from .schemas import EvaluationAccepted, EvaluationFilters, EvaluationIn, EvaluationOut, HealthOut
from .selectors import evaluation_get, evaluation_list
from .services import system_health

router = Router(tags=["grading"], auth=scoped("grade", session_permission="evaluation.view_evaluation"))


@router.post("evaluations", response={200: EvaluationOut, 202: EvaluationAccepted})
async def evaluation_create(request: HttpRequest, payload: EvaluationIn, wait: bool = True):
    """Grade an answer. By default waits for the grade; `?wait=false` answers 202 and a worker grades it.

    Async: under an ASGI server (`make serve`) a request waiting on the LLM holds no thread; under WSGI
    (runserver) Django runs it to completion the same way."""
    evaluation = await evaluation_submit_async(
        request=payload.grading_request(), requested_model=payload.model or "", wait=wait
    )
    return Status(200 if wait else 202, evaluation)


@router.get("evaluations", response=list[EvaluationOut])
@paginate(Pagination)
def evaluation_index(request: HttpRequest, filters: Query[EvaluationFilters]):
    """Evaluations, newest first, filtered and paginated (`page`, `page_size`)."""
    return evaluation_list(**filters.model_dump())


@router.get("evaluations/{int:evaluation_id}", response=EvaluationOut)
def evaluation_detail(request: HttpRequest, evaluation_id: int):
    return evaluation_get(evaluation_id=evaluation_id)


def _has_credentials(request: HttpRequest) -> bool:
    """Whether the caller sent a valid API key or has a staff session, whatever its scopes: the API's own
    auth classes decide, and one that refuses for want of a scope has still recognised the caller."""
    for auth in undeclared():
        try:
            if auth(request):
                return True
        except (Forbidden, Throttled):
            return True
    return False


@router.get("health", response={200: HealthOut, 503: HealthOut}, auth=None, exclude_none=True)
def health(request: HttpRequest):
    """`ok`, `degraded` or `down` (503). Public, so load balancers can probe it; the database, broker and LLM
    server details only for a caller with an API key or a staff session."""
    report = system_health()
    status = 503 if report["status"] == "down" else 200
    return Status(status, report if _has_credentials(request) else {"status": report["status"]})
