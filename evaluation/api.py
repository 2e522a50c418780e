"""The grading API (mounted at /api/v1/ by ready4hire.api): grade an answer, list and read grades, health."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from ready4hire.pagination import Pagination

from .schemas import EvaluationAccepted, EvaluationFilters, EvaluationIn, EvaluationOut, HealthOut
from .selectors import evaluation_get, evaluation_list
from .services import evaluation_submit, system_health

router = Router(tags=["grading"])


@router.post("evaluations", response={200: EvaluationOut, 202: EvaluationAccepted})
def evaluation_create(request: HttpRequest, payload: EvaluationIn, wait: bool = True):
    """Grade an answer. By default waits for the grade; `?wait=false` answers 202 and a worker grades it."""
    evaluation = evaluation_submit(request=payload.grading_request(), requested_model=payload.model or "", wait=wait)
    return Status(200 if wait else 202, evaluation)


@router.get("evaluations", response=list[EvaluationOut])
@paginate(Pagination)
def evaluation_index(request: HttpRequest, filters: Query[EvaluationFilters]):
    """Evaluations, newest first, filtered and paginated (`page`, `page_size`)."""
    return evaluation_list(**filters.model_dump())


@router.get("evaluations/{int:evaluation_id}", response=EvaluationOut)
def evaluation_detail(request: HttpRequest, evaluation_id: int):
    return evaluation_get(evaluation_id=evaluation_id)


@router.get("health", response={200: HealthOut, 503: HealthOut}, auth=None)
def health(request: HttpRequest):
    """Database, broker and LLM server status. Public, so load balancers can probe it."""
    report = system_health()
    return Status(503 if report["status"] == "down" else 200, report)
