"""Fine-tune runs (mounted at /api/v1/finetune-runs): start one on the training queue, follow its progress."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from evaluation.models import ApiKey

from ..schemas.finetune import FineTuneRunDetailOut, FineTuneRunIn, FineTuneRunListOut, FineTuneRunListQuery
from ..selectors.finetune import finetune_run_get, finetune_run_list
from ..services.finetune import finetune_run_create
from .examples import _require_perm

router = Router(tags=["fine-tuning"])


@router.post("", response={202: FineTuneRunDetailOut})
def finetune_run_start(request: HttpRequest, payload: FineTuneRunIn):
    """Queue a fine-tune run on a finished export (train → merge → GGUF → Modelfile → model version).
    Poll `GET /finetune-runs/{id}` for its progress; once done, `outputs.version` names the new version."""
    _require_perm(request, "training.add_finetunerun")
    is_key = isinstance(request.auth, ApiKey)
    run = finetune_run_create(
        dataset_export_id=payload.dataset_export_id,
        base_model=payload.base_model,
        init_tiny=payload.init_tiny,
        method=payload.method,
        hyperparameters=payload.hyperparameters.model_dump(exclude_none=True),
        requested_by=None if is_key else request.auth,
        requested_by_key=request.auth if is_key else None,
        enqueue=True,
    )
    return Status(202, finetune_run_get(run_id=run.pk))


@router.get("", response=FineTuneRunListOut)
def finetune_runs(request: HttpRequest, query: Query[FineTuneRunListQuery]):
    """Fine-tune runs, newest first."""
    runs = finetune_run_list(status=query.status, dataset_export_id=query.dataset_export_id)
    start = (query.page - 1) * query.page_size
    return {"items": list(runs[start : start + query.page_size]), "count": runs.count()}


@router.get("/{int:run_id}", response=FineTuneRunDetailOut)
def finetune_run_detail(request: HttpRequest, run_id: int):
    """A run with its live progress (step, loss, validation loss history), then its outputs and log."""
    return finetune_run_get(run_id=run_id)
