from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from .schemas import (
    EvaluationAccepted,
    EvaluationFilters,
    EvaluationIn,
    EvaluationListOut,
    EvaluationOut,
    HealthOut,
)
from .selectors import evaluation_get, evaluation_list
from .services import evaluation_submit, system_health

router = Router(tags=["grading"])


@router.post("evaluations", response={200: EvaluationOut, 202: EvaluationAccepted})
def evaluation_create(request: HttpRequest, payload: EvaluationIn, wait: bool = True):
    """Grade an answer. By default waits for the grade; `?wait=false` answers 202 and a worker grades it."""
    evaluation = evaluation_submit(request=payload.grading_request(), requested_model=payload.model or "", wait=wait)
    return Status(200 if wait else 202, evaluation)


@router.get("evaluations", response=EvaluationListOut)
def evaluation_index(request: HttpRequest, filters: Query[EvaluationFilters]):
    """Evaluations, newest first, filtered and paginated (`page`, `page_size`)."""
    matching = evaluation_list(**filters.model_dump(exclude={"page", "page_size"}))
    start = (filters.page - 1) * filters.page_size
    return {"items": list(matching[start : start + filters.page_size]), "count": matching.count()}


@router.get("evaluations/{int:evaluation_id}", response=EvaluationOut)
def evaluation_detail(request: HttpRequest, evaluation_id: int):
    return evaluation_get(evaluation_id=evaluation_id)


@router.get("health", response={200: HealthOut, 503: HealthOut}, auth=None)
def health(request: HttpRequest):
    """Database, broker and LLM server status. Public, so load balancers can probe it."""
    report = system_health()
    return Status(503 if report["status"] == "down" else 200, report)
