"""Dataset exports over the API, mounted at /api/v1/datasets by ready4hire.api (not under /training/)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import FileResponse, HttpRequest
from ninja import Query, Router, Status

from evaluation.models import ApiKey
from ready4hire.errors import Forbidden

from ..schemas.exports import DatasetExportIn, DatasetExportListOut, DatasetExportListQuery, DatasetExportOut
from ..selectors.exports import dataset_export_file_path, dataset_export_get, dataset_export_list
from ..services.exports import dataset_export_submit

router = Router(tags=["datasets"])

CONTENT_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json", ".md": "text/markdown"}


@router.post("", response={202: DatasetExportOut})
def dataset_export_create(request: HttpRequest, payload: DatasetExportIn):
    """Start an export (the next version of `name`); a worker writes it. Poll the export for its progress."""
    user = request.auth if isinstance(request.auth, AbstractBaseUser) else None
    if user is not None and not user.has_perm("training.add_datasetexport"):
        raise Forbidden("Your account lacks the 'training.add_datasetexport' permission.")
    export = dataset_export_submit(
        name=payload.name,
        fmt=payload.format,
        filters=payload.export_filters(),
        train_share=payload.train_share,
        seed=payload.seed,
        balance_categories=payload.balance_categories,
        requested_by=user,
        requested_by_key=request.auth if isinstance(request.auth, ApiKey) else None,
    )
    return Status(202, export)


@router.get("", response=DatasetExportListOut)
def dataset_exports(request: HttpRequest, query: Query[DatasetExportListQuery]):
    """Exports, newest first, paginated (`page`, `page_size`)."""
    exports = dataset_export_list(name=query.name, status=query.status)
    start = (query.page - 1) * query.page_size
    return {"items": list(exports[start : start + query.page_size]), "count": exports.count()}


@router.get("/{int:export_id}", response=DatasetExportOut)
def dataset_export_detail(request: HttpRequest, export_id: int):
    return dataset_export_get(export_id=export_id)


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
