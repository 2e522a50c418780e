"""`manage.py load_questions [FILE]`: load the built-in question bank, or a JSON file of questions."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluation.question_bank import QuestionBankError, question_bank_load


class Command(BaseCommand):
    help = "Load the built-in interview question bank, or a JSON file of questions, into the catalogue. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument(
            "--file",
            type=Path,
            default=None,
            metavar="PATH",
            help="A JSON list of questions with the bank's fields (default: the bank shipped with the project).",
        )

    def handle(self, *args, file: Path | None = None, **options):
        try:
            summary = question_bank_load(path=file)
        except QuestionBankError as exc:
            raise CommandError(str(exc)) from exc
        noun = "question" if summary.total == 1 else "questions"
        self.stdout.write(self.style.SUCCESS(f"Loaded {summary.total} {noun}: {summary}"))
