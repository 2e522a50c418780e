"""Modelfiles over the API, mounted at /api/v1/modelfiles by ready4hire.api (not under /training/)."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from ninja.pagination import paginate

from evaluation.auth import request_actor, require_permission, scoped
from ready4hire.pagination import Pagination

from ..schemas.modelfiles import ModelfileFilters, ModelfileIn, ModelfileOut, ModelfilePushIn, ModelfileSummaryOut
from ..selectors.modelfiles import modelfile_get, modelfile_list
from ..services.modelfile_jobs import modelfile_push_queue, modelfile_validate_queue
from ..services.modelfiles import modelfile_build

router = Router(tags=["modelfiles"], auth=scoped("train", session_permission="training.view_modelfile"))


@router.post("", response={201: ModelfileOut, 202: ModelfileOut})
def modelfile_create(request: HttpRequest, payload: ModelfileIn):
    """Build a Modelfile (201); with `push` and/or `validate`, also queue those jobs (202) and poll the row."""
    require_permission(request, "training.add_modelfile")
    actor = request_actor(request)
    modelfile = modelfile_build(
        name=payload.name,
        base=payload.base,
        adapter=payload.adapter,
        parameters=payload.parameters,
        system=payload.system,
        template=payload.template,
        license=payload.license,
        language=payload.language,
        dataset_export_id=payload.dataset_export_id,
        few_shot=payload.few_shot,
        push=payload.push,
        validate=payload.validate_model,
        requested_by=actor.user,
        requested_by_key=actor.api_key,
    )
    return Status(202 if payload.push or payload.validate_model else 201, modelfile)


@router.get("", response=list[ModelfileSummaryOut])
@paginate(Pagination)
def modelfiles(request: HttpRequest, filters: Query[ModelfileFilters]):
    """Modelfiles, newest first, paginated (`page`, `page_size`)."""
    return modelfile_list(**filters.model_dump())


@router.get("/{int:modelfile_id}", response=ModelfileOut)
def modelfile_detail(request: HttpRequest, modelfile_id: int):
    return modelfile_get(modelfile_id=modelfile_id)


@router.get("/{int:modelfile_id}/download", url_name="modelfile_download")
def modelfile_download(request: HttpRequest, modelfile_id: int):
    """The rendered Modelfile, as a file to save beside the model and give to `ollama create -f`."""
    modelfile = modelfile_get(modelfile_id=modelfile_id)
    response = HttpResponse(modelfile.content, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="Modelfile"'
    return response


@router.post("/{int:modelfile_id}/push", response={202: ModelfileOut})
def modelfile_push(request: HttpRequest, modelfile_id: int, payload: ModelfilePushIn | None = None):
    """Queue the push to the configured Ollama server (and then the validation, with `validate`)."""
    require_permission(request, "training.change_modelfile")
    then_validate = bool(payload and payload.validate_model)
    return Status(202, modelfile_push_queue(modelfile_id=modelfile_id, then_validate=then_validate))


@router.post("/{int:modelfile_id}/validate", response={202: ModelfileOut})
def modelfile_validate(request: HttpRequest, modelfile_id: int):
    """Queue a validation: the probe set graded by the pushed model, JSON and schema rates against the thresholds."""
    require_permission(request, "training.change_modelfile")
    return Status(202, modelfile_validate_queue(modelfile_id=modelfile_id))
