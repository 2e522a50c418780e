"""Fine-tune runs (mounted at /api/v1/finetune-runs): start one on the training queue, follow its progress."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from evaluation.auth import request_actor, require_permission, scoped
from ready4hire.pagination import Pagination

from ..schemas.finetune import FineTuneRunDetailOut, FineTuneRunFilters, FineTuneRunIn, FineTuneRunOut
from ..selectors.finetune import finetune_run_get, finetune_run_list
from ..services.finetune import finetune_run_cancel, finetune_run_create

router = Router(tags=["fine-tuning"], auth=scoped("train", session_permission="training.view_finetunerun"))


@router.post("", response={202: FineTuneRunDetailOut})
def finetune_run_start(request: HttpRequest, payload: FineTuneRunIn):
    """Queue a fine-tune run on a finished export (train → merge → GGUF → Modelfile → model version).
    Poll `GET /finetune-runs/{id}` for its progress; once done, `outputs.version` names the new version."""
    require_permission(request, "training.add_finetunerun")
    actor = request_actor(request)
    run = finetune_run_create(
        dataset_export_id=payload.dataset_export_id,
        base_model=payload.base_model,
        init_tiny=payload.init_tiny,
        method=payload.method,
        base_run_id=payload.base_run_id,
        backend=payload.backend,
        hyperparameters=payload.hyperparameters.model_dump(exclude_none=True),
        requested_by=actor.user,
        requested_by_key=actor.api_key,
        enqueue=True,
    )
    return Status(202, finetune_run_get(run_id=run.pk))


@router.get("", response=list[FineTuneRunOut])
@paginate(Pagination, page_size=50, max_page_size=200)
def finetune_runs(request: HttpRequest, filters: Query[FineTuneRunFilters]):
    """Fine-tune runs, newest first."""
    return finetune_run_list(**filters.model_dump())


@router.get("/{int:run_id}", response=FineTuneRunDetailOut)
def finetune_run_detail(request: HttpRequest, run_id: int):
    """A run with its live progress (step, loss, validation loss history), then its outputs and log."""
    return finetune_run_get(run_id=run_id)


@router.post("/{int:run_id}/cancel", response=FineTuneRunDetailOut)
def finetune_run_cancel_endpoint(request: HttpRequest, run_id: int):
    """Cancel a pending or running run (409 once it finished); a running one stops at its next logged step,
    its output folder removed."""
    require_permission(request, "training.add_finetunerun")
    finetune_run_cancel(run_id=run_id)
    return finetune_run_get(run_id=run_id)
