"""The `--dataset ID` option the training commands share: an id that names no export is answered with the
ids that do exist, so the person at the terminal can pick one without opening the admin."""

from __future__ import annotations

from django.core.management.base import CommandError

from ..models import DatasetExport

SHOWN = 20  # the newest exports listed in the error; older ones are in the admin and /api/v1/datasets


def dataset_export_option(export_id: int | None) -> int | None:
    """`export_id` unchanged when the export exists (or none was given); otherwise a CommandError listing the
    existing exports, newest first."""
    if export_id is None or DatasetExport.objects.filter(pk=export_id).exists():
        return export_id
    exports = list(DatasetExport.objects.order_by("-created_at", "-id")[: SHOWN + 1])
    if not exports:
        raise CommandError(
            f"--dataset {export_id}: no dataset export exists yet. Create one with: python manage.py export_dataset"
        )
    listed = "\n".join(
        f"  {export.pk}  {export.name} v{export.version} ({export.format}, {export.status}, "
        f"{export.train_count} train / {export.val_count} validation)"
        for export in exports[:SHOWN]
    )
    more = "\n  … and older ones: see the admin (Dataset exports) or GET /api/v1/datasets" if exports[SHOWN:] else ""
    raise CommandError(f"--dataset {export_id}: no dataset export has that id. The existing ones:\n{listed}{more}")
