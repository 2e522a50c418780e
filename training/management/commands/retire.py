"""`manage.py retire`: retire a model version."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ready4hire.errors import DomainError
from training.selectors import model_version_get_by_reference
from training.services import model_version_retire


class Command(BaseCommand):
    help = "Retire a model version; an active one's category falls back to the active 'all' version or the default."

    def add_arguments(self, parser):
        parser.add_argument("version", help="NAME:vN (e.g. ready4hire:v3), latest, tiny-base, or an id.")
        parser.add_argument("--note", default="", help="Why (kept in the admin log).")

    def handle(self, *args, version: str, note: str, **options):
        try:
            retired = model_version_retire(version=model_version_get_by_reference(ref=version), note=note)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{retired.reference} is retired."))
