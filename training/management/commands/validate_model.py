"""`manage.py validate_model`: grade the fixed probe set with a model on Ollama and report its JSON validity rates."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.batch import add_concurrency_argument
from ready4hire.errors import DomainError
from training.selectors import modelfile_newest_named
from training.services import model_validate


class Command(BaseCommand):
    help = (
        "Grade a fixed probe set (strong and weak answers in Spanish and English) with a model on the configured "
        "Ollama server; print whether the model is there, the valid-JSON rate and the schema-valid rate. Exits "
        "non-zero below MODEL_VALIDATION_MIN_VALID_JSON / MODEL_VALIDATION_MIN_SCHEMA_VALID. The newest Modelfile "
        "of that name keeps the report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The model's name on the server.")
        add_concurrency_argument(parser)

    def handle(self, *args, name: str, concurrency: int | None = None, **options) -> None:
        try:
            report = model_validate(name=name, concurrency=concurrency)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Model {report.model} on {report.server}: {'present' if report.model_present else 'MISSING'}"
        )
        valid_json = sum(r.valid_json for r in report.results)
        schema_valid = sum(r.schema_valid for r in report.results)
        self.stdout.write(
            f"Valid JSON:   {report.valid_json_rate:.0%} ({valid_json}/{report.probes})"
            f"  minimum {report.min_valid_json:.0%}"
        )
        self.stdout.write(
            f"Schema-valid: {report.schema_valid_rate:.0%} ({schema_valid}/{report.probes})"
            f"  minimum {report.min_schema_valid:.0%}"
        )
        for result in report.results:
            outcome = f"score {result.score:g}" if result.score is not None else result.error
            self.stdout.write(f"  {result.probe:<13} {outcome}")
        if report.strong_above_weak is not None:
            self.stdout.write(f"Strong answers scored above weak ones: {'yes' if report.strong_above_weak else 'NO'}")
        modelfile = modelfile_newest_named(name=name)
        if modelfile is not None:
            self.stdout.write(f"Report kept on Modelfile #{modelfile.pk}.")
        if not report.passed:
            raise CommandError(f"{report.model} failed validation.")
        self.stdout.write(self.style.SUCCESS(f"{report.model} passed validation."))
