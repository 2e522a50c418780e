"""Reads for Modelfiles: the rows, and the export a Modelfile draws its few-shot pairs from by default."""

from __future__ import annotations

from django.db.models import QuerySet

from ready4hire.errors import NotFound

from ..models import DatasetExport, JobStatus, Modelfile


def modelfile_get(*, modelfile_id: int) -> Modelfile:
    try:
        return Modelfile.objects.select_related("dataset_export", "requested_by", "requested_by_key").get(
            pk=modelfile_id
        )
    except Modelfile.DoesNotExist:
        raise NotFound(f"Modelfile {modelfile_id} does not exist.", field="id") from None


def modelfile_list(
    *, name: str | None = None, push_status: str | None = None, validation_status: str | None = None
) -> QuerySet[Modelfile]:
    """Modelfiles, newest first."""
    modelfiles = Modelfile.objects.select_related("dataset_export")
    if name:
        modelfiles = modelfiles.filter(name=name)
    if push_status:
        modelfiles = modelfiles.filter(push_status=push_status)
    if validation_status:
        modelfiles = modelfiles.filter(validation_status=validation_status)
    return modelfiles.order_by("-created_at", "-id")


def modelfile_newest_named(*, name: str) -> Modelfile | None:
    """The newest Modelfile built for the server model `name` (with or without its `:latest` tag)."""
    names = [name, f"{name}:latest"] if ":" not in name.rsplit("/", 1)[-1] else [name]
    if name.endswith(":latest"):
        names.append(name.removesuffix(":latest"))
    return Modelfile.objects.filter(name__in=names).order_by("-created_at", "-id").first()


def dataset_export_newest_finished() -> DatasetExport | None:
    return DatasetExport.objects.filter(status=JobStatus.DONE).order_by("-created_at", "-id").first()
