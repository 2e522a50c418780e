"""`manage.py create_api_key NAME [--scopes grade,review,...] [--user USERNAME]`: make a key, print it once."""

from django.core.management.base import BaseCommand, CommandError

from evaluation.models import ApiKey
from evaluation.services import api_key_create
from ready4hire.errors import DomainError


class Command(BaseCommand):
    help = "Create an API key for an API consumer. The key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what the key is for, e.g. 'interview-frontend'.")
        parser.add_argument(
            "--scopes",
            default="",
            help=f"Comma-separated, from {', '.join(ApiKey.Scope.values)} (admin: all). Default: grade.",
        )
        parser.add_argument("--user", default=None, help="Bind the key to this user: what it does (reviews) is theirs.")

    def handle(self, *args, name: str, scopes: str, user: str | None, **options):
        try:
            key, raw_key = api_key_create(name=name, scopes=scopes.split(","), username=user)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        bound = f", acting for {key.user.get_username()}" if key.user else ""
        self.stdout.write(
            f"Created API key {key.name!r} ({key.key_prefix}…) with scopes {', '.join(key.scopes)}{bound}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write("Send it as 'Authorization: Bearer <key>'.")
        self.stdout.write(raw_key)
