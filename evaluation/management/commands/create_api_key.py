from django.core.management.base import BaseCommand, CommandError

from evaluation.services import api_key_create
from ready4hire.errors import DomainError


class Command(BaseCommand):
    help = "Create an API key for an API consumer. The key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what the key is for, e.g. 'interview-frontend'.")

    def handle(self, *args, name: str, **options):
        try:
            key, raw_key = api_key_create(name=name)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Created API key {key.name!r} ({key.key_prefix}…). Store it now: it is not shown again.")
        self.stdout.write("Send it as 'Authorization: Bearer <key>'.")
        self.stdout.write(raw_key)
