"""Model versions: register, and (later in this module) promote, retire and route."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max

from ..models import DatasetExport, FineTuneRun, Modelfile, ModelVersion


def model_version_register(
    *,
    name: str = "ready4hire",
    kind: str = ModelVersion.Kind.FINETUNED,
    base_model: str = "",
    run: FineTuneRun | None = None,
    dataset_export: DatasetExport | None = None,
    served_name: str = "",
    gguf_path: str = "",
    modelfile: Modelfile | None = None,
    category: str = ModelVersion.Category.ALL,
    status: str = ModelVersion.Status.DRAFT,
) -> ModelVersion:
    """Create the next version (v1, v2, …) of `name`; concurrent registrations each get their own number."""
    for _ in range(5):
        try:
            with transaction.atomic():
                latest = ModelVersion.objects.filter(name=name).aggregate(latest=Max("version"))["latest"] or 0
                return ModelVersion.objects.create(
                    name=name,
                    version=latest + 1,
                    kind=kind,
                    base_model=base_model,
                    run=run,
                    dataset_export=dataset_export,
                    served_name=served_name,
                    gguf_path=gguf_path,
                    modelfile=modelfile,
                    category=category,
                    status=status,
                )
        except IntegrityError:
            continue  # another registration took this number: read the latest again
    raise RuntimeError(f"could not allocate a version number for {name!r}")
