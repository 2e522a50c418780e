"""`manage.py model_versions`: list model versions, where they are served and their promotions."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from training.models import ModelVersion
from training.selectors import model_version_list

COLUMNS = ("version", "kind", "status", "category", "served as", "gguf", "promoted")


class Command(BaseCommand):
    help = "List model versions: status, the category they grade, where they are served, and promotions."

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=ModelVersion.Status.values)
        parser.add_argument("--category", choices=ModelVersion.Category.values)

    def handle(self, *args, status: str | None, category: str | None, **options):
        rows = [
            (
                version.reference,
                version.kind,
                version.status,
                version.category,
                version.served_name or "—",
                version.gguf_path or "—",
                (
                    f"{version.promoted_at:%Y-%m-%d %H:%M}"
                    f"{' by ' + version.promoted_by.get_username() if version.promoted_by else ''}"
                    f"{' (forced)' if version.promotion_forced else ''}"
                    if version.promoted_at
                    else "—"
                ),
            )
            for version in model_version_list(status=status, category=category)
        ]
        if not rows:
            self.stdout.write("No model versions yet: a fine-tune run registers one.")
            return
        widths = [max(len(str(row[i])) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, *rows]:
            self.stdout.write(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
