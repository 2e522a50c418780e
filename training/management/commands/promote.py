"""`manage.py promote`: make a model version the active grader of a category."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ready4hire.errors import DomainError
from training.models import ModelVersion
from training.selectors import model_version_get_by_reference
from training.services import PromotionGateFailed, model_version_promote


class Command(BaseCommand):
    help = (
        "Make a model version the active grader of a category (default: its own), retiring the one it "
        "replaces. Refused when it failed the promotion gate of its latest comparison, unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", help="NAME:vN (e.g. ready4hire:v3), latest, tiny-base, or an id.")
        parser.add_argument("--category", choices=ModelVersion.Category.values)
        parser.add_argument("--force", action="store_true", help="Promote although it failed the gate.")
        parser.add_argument("--note", default="", help="Why (recorded with the promotion).")

    def handle(self, *args, version: str, category: str | None, force: bool, note: str, **options):
        try:
            promoted = model_version_promote(
                version=model_version_get_by_reference(ref=version), category=category, force=force, note=note
            )
        except PromotionGateFailed as exc:
            raise CommandError(f"{exc} (e.g. --force --note 'why')") from None
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        forced = " (forced past the promotion gate)" if promoted.promotion_forced else ""
        self.stdout.write(
            self.style.SUCCESS(f"{promoted.reference} is now the active {promoted.category} grader{forced}.")
        )
