"""Model versions (mounted at /api/v1/model-versions): list them, register one trained elsewhere, promote one
for a category, retire one."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from evaluation.auth import request_actor, require_permission, scoped

from ..schemas.versions import ModelVersionFilters, ModelVersionOut, PromoteIn, RegisterIn, RetireIn
from ..selectors.versions import model_version_get, model_version_list
from ..services.versions import model_version_promote, model_version_retire
from ..services.versions_external import model_version_register_external

router = Router(tags=["model versions"], auth=scoped("train", session_permission="training.view_modelversion"))


@router.get("", response=list[ModelVersionOut])
def model_versions(request: HttpRequest, filters: Query[ModelVersionFilters]):
    return list(model_version_list(**filters.model_dump()))


@router.post("/register", response={201: ModelVersionOut})
def model_version_register_endpoint(request: HttpRequest, payload: RegisterIn):
    """Register a model trained elsewhere (GGUF file, Hugging Face folder converted to GGUF, or Ollama model)
    with the dataset export it was trained on, as the next version of `name`."""
    require_permission(request, "training.add_modelversion")
    version = model_version_register_external(
        name=payload.name,
        source=payload.source,
        dataset_export_id=payload.dataset_export_id,
        category=payload.category,
        prompt_variant=payload.prompt_variant,
    )
    return Status(201, version)


@router.post("/{int:version_id}/promote", response=ModelVersionOut)
def model_version_promote_endpoint(request: HttpRequest, version_id: int, payload: PromoteIn):
    """Make the version the active grader of a category, retiring the one it replaces. 409 when it failed the
    promotion gate of its latest comparison, unless `force` (recorded with the note)."""
    require_permission(request, "training.change_modelversion")
    return model_version_promote(
        version=model_version_get(version_id=version_id),
        user=request_actor(request).principal,
        category=payload.category,
        force=payload.force,
        note=payload.note,
    )


@router.post("/{int:version_id}/retire", response=ModelVersionOut)
def model_version_retire_endpoint(request: HttpRequest, version_id: int, payload: RetireIn):
    require_permission(request, "training.change_modelversion")
    return model_version_retire(
        version=model_version_get(version_id=version_id), user=request_actor(request).principal, note=payload.note
    )
