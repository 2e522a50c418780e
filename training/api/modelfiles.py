"""Modelfiles over the API, mounted at /api/v1/modelfiles by ready4hire.api (not under /training/)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from evaluation.models import ApiKey
from ready4hire.errors import Forbidden

from ..schemas.modelfiles import ModelfileIn, ModelfileListOut, ModelfileListQuery, ModelfileOut, ModelfilePushIn
from ..selectors.modelfiles import modelfile_get, modelfile_list
from ..services.modelfiles import modelfile_build, modelfile_push_queue, modelfile_validate_queue

router = Router(tags=["modelfiles"])


def _require_perm(request: HttpRequest, permission: str) -> None:
    """API keys belong to trusted programs; a staff session needs the same permission as in the admin."""
    user = request.auth
    if isinstance(user, AbstractBaseUser) and not user.has_perm(permission):
        raise Forbidden(f"Your account lacks the '{permission}' permission.")


@router.post("", response={201: ModelfileOut, 202: ModelfileOut})
def modelfile_create(request: HttpRequest, payload: ModelfileIn):
    """Build a Modelfile (201); with `push` and/or `validate`, also queue those jobs (202) and poll the row."""
    _require_perm(request, "training.add_modelfile")
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
        requested_by=request.auth if isinstance(request.auth, AbstractBaseUser) else None,
        requested_by_key=request.auth if isinstance(request.auth, ApiKey) else None,
    )
    return Status(202 if payload.push or payload.validate_model else 201, modelfile)


@router.get("", response=ModelfileListOut)
def modelfiles(request: HttpRequest, query: Query[ModelfileListQuery]):
    """Modelfiles, newest first, paginated (`page`, `page_size`)."""
    matching = modelfile_list(name=query.name, push_status=query.push_status, validation_status=query.validation_status)
    start = (query.page - 1) * query.page_size
    return {"items": list(matching[start : start + query.page_size]), "count": matching.count()}


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
    _require_perm(request, "training.change_modelfile")
    then_validate = bool(payload and payload.validate_model)
    return Status(202, modelfile_push_queue(modelfile_id=modelfile_id, then_validate=then_validate))


@router.post("/{int:modelfile_id}/validate", response={202: ModelfileOut})
def modelfile_validate(request: HttpRequest, modelfile_id: int):
    """Queue a validation: the probe set graded by the pushed model, JSON and schema rates against the thresholds."""
    _require_perm(request, "training.change_modelfile")
    return Status(202, modelfile_validate_queue(modelfile_id=modelfile_id))
