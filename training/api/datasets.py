"""Dataset exports over the API, mounted at /api/v1/datasets by ready4hire.api (not under /training/)."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import FileResponse, HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from evaluation.auth import request_actor, require_permission, scoped
from ready4hire.pagination import Pagination

from ..schemas.exports import DatasetExportFilters, DatasetExportIn, DatasetExportOut
from ..selectors.exports import dataset_export_file_path, dataset_export_get, dataset_export_list
from ..services.exports import dataset_export_cancel, dataset_export_delete, dataset_export_submit

router = Router(tags=["datasets"], auth=scoped("curate", session_permission="training.view_datasetexport"))

CONTENT_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json", ".md": "text/markdown"}


@router.post("", response={202: DatasetExportOut})
def dataset_export_create(request: HttpRequest, payload: DatasetExportIn):
    """Start an export (the next version of `name`); a worker writes it. Poll the export for its progress."""
    require_permission(request, "training.add_datasetexport")
    actor = request_actor(request)
    export = dataset_export_submit(
        name=payload.name,
        fmt=payload.format,
        filters=payload.export_filters(),
        train_share=payload.train_share,
        seed=payload.seed,
        balance_categories=payload.balance_categories,
        prompt_variant=payload.prompt_variant,
        requested_by=actor.user,
        requested_by_key=actor.api_key,
    )
    return Status(202, export)


@router.get("", response=list[DatasetExportOut])
@paginate(Pagination)
def dataset_exports(request: HttpRequest, filters: Query[DatasetExportFilters]):
    """Exports, newest first, paginated (`page`, `page_size`)."""
    return dataset_export_list(**filters.model_dump())


@router.get("/{int:export_id}", response=DatasetExportOut)
def dataset_export_detail(request: HttpRequest, export_id: int):
    return dataset_export_get(export_id=export_id)


@router.delete("/{int:export_id}", response={204: None})
def dataset_export_delete_endpoint(request: HttpRequest, export_id: int):
    """Delete an export and its files (204). 409 while it is being written or a fine-tune run was trained on
    it. Its version number is never reused."""
    require_permission(request, "training.delete_datasetexport")
    dataset_export_delete(export_id=export_id)
    return Status(204, None)


@router.post("/{int:export_id}/cancel", response=DatasetExportOut)
def dataset_export_cancel_endpoint(request: HttpRequest, export_id: int):
    """Cancel a pending or running export (409 once it finished); a running one stops at its next progress
    and removes its temporary files."""
    require_permission(request, "training.add_datasetexport")
    return dataset_export_cancel(export_id=export_id)


@router.get("/{int:export_id}/files/{file}", url_name="dataset_export_file")
def dataset_export_file(request: HttpRequest, export_id: int, file: str):
    """Download a finished export's file: train, val, manifest, dataset_info, axolotl or guide."""
    path = dataset_export_file_path(export=dataset_export_get(export_id=export_id), file=file)
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=path.name,
        content_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
    )
