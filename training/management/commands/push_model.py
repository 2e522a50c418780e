"""`manage.py push_model`: push a Modelfile (and its local files as blobs) to the configured Ollama server."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat

from ready4hire.errors import DomainError
from training.services import modelfile_push_file


class Command(BaseCommand):
    help = (
        "Push a Modelfile to the configured Ollama server (OLLAMA_ADMIN_URL): local FROM/ADAPTER files are uploaded "
        "as blobs (only those the server lacks), then the model is created. The push is recorded as a Modelfile."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The Modelfile to push.")
        parser.add_argument("--name", required=True, help="The model's name on the server, e.g. ready4hire:v1.")

    def handle(self, *args, path: Path, name: str, **options) -> None:
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            result = modelfile_push_file(path=path, name=name)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        for blob in result.blobs:
            verb = "uploaded" if blob.uploaded else "already on the server"
            size = filesizeformat(blob.size).replace("\xa0", " ")  # a terminal, not HTML
            self.stdout.write(f"Blob {blob.digest} ({size}): {verb}")
        self.stdout.write(
            self.style.SUCCESS(f"Pushed {result.modelfile.name} to {result.server} (Modelfile #{result.modelfile.pk}).")
        )
        self.stdout.write(f"Validate it with: python manage.py validate_model {result.modelfile.name}")
