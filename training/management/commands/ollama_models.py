"""`manage.py ollama_models`: list, show or delete models on the configured Ollama server."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat

from ready4hire.errors import DomainError
from training.services import ollama_model_delete, ollama_model_list, ollama_model_show


class Command(BaseCommand):
    help = "List, show or delete models on the configured Ollama server (OLLAMA_ADMIN_URL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=("list", "show", "delete"), default="list")
        parser.add_argument("name", nargs="?", help="The model (show, delete).")
        parser.add_argument("--yes", action="store_true", help="Delete without asking.")

    def handle(self, *args, action: str, name: str | None, yes: bool, **options) -> None:
        if action != "list" and not name:
            raise CommandError(f"'{action}' needs a model name.")
        try:
            if action == "list":
                self._list()
            elif action == "show":
                self._show(name)
            else:
                self._delete(name, yes=yes)
        except DomainError as exc:
            raise CommandError(str(exc)) from None

    def _list(self) -> None:
        models = ollama_model_list()
        if not models:
            self.stdout.write("No models on the server.")
        for model in models:
            details = model.details
            size = filesizeformat(model.size).replace("\xa0", " ")  # a terminal, not HTML
            self.stdout.write(
                f"{model.name:<40} {size:>8}  {details.get('parameter_size', ''):>6} "
                f"{details.get('quantization_level', '')}  {model.modified_at[:19]}"
            )

    def _show(self, name: str) -> None:
        info = ollama_model_show(name=name)
        details = info.get("details") or {}
        self.stdout.write(
            f"Model {name}: {details.get('family', '?')} {details.get('parameter_size', '')} "
            f"{details.get('quantization_level', '')}".rstrip()
        )
        if details.get("parent_model"):
            self.stdout.write(f"From: {details['parent_model']}")
        self.stdout.write("")
        self.stdout.write(info.get("modelfile", "").rstrip())

    def _delete(self, name: str, *, yes: bool) -> None:
        if not yes:
            answer = input(f"Delete {name} from the Ollama server? Type 'yes' to confirm: ")
            if answer.strip().lower() != "yes":
                raise CommandError("Not deleted.")
        unpushed = ollama_model_delete(name=name)
        message = f"Deleted {name}."
        if unpushed:
            message += f" {unpushed} Modelfile{'s' if unpushed != 1 else ''} marked not pushed."
        self.stdout.write(self.style.SUCCESS(message))
