"""`manage.py import_examples FILE`: import training examples from a JSONL file, reporting skipped lines."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ready4hire.errors import DomainError
from training.services import examples_import
from training.services.jsonl import DEFAULT_BATCH_SIZE


class Command(BaseCommand):
    help = (
        "Import training examples from a JSONL file in the original collector's format (one example per line). "
        "Duplicates and invalid lines are skipped and reported; they never stop the import."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The JSONL file, or - for standard input.")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Rows per insert batch.")
        parser.add_argument("--show-errors", type=int, default=20, help="How many invalid lines to list.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, file: Path, batch_size: int, show_errors: int, no_progress: bool, **options):
        if str(file) == "-":
            return self._import(
                sys.stdin.buffer, total=None, batch_size=batch_size, show_errors=show_errors, progress=not no_progress
            )
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        with file.open("rb") as lines:
            self._import(
                lines,
                total=file.stat().st_size,
                batch_size=batch_size,
                show_errors=show_errors,
                progress=not no_progress,
            )

    def _import(self, lines, *, total: int | None, batch_size: int, show_errors: int, progress: bool) -> None:
        bar = tqdm(total=total, unit="B", unit_scale=True, desc="Importing", disable=not progress, file=sys.stderr)

        def counted(stream):
            for line in stream:
                bar.update(len(line))
                yield line

        def on_progress(report) -> None:
            bar.set_postfix(imported=report.imported, duplicates=report.duplicates, invalid=report.invalid)

        try:
            report = examples_import(lines=counted(lines), batch_size=batch_size, on_progress=on_progress)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        self.stdout.write(self.style.SUCCESS(f"Imported: {report.summary()}."))
        for line_number, message in report.errors[:show_errors]:
            self.stdout.write(self.style.WARNING(f"  line {line_number}: {message}"))
        hidden = report.invalid - min(show_errors, len(report.errors))
        if hidden > 0:
            self.stdout.write(self.style.WARNING(f"  … and {hidden} more invalid lines."))
