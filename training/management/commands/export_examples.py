"""`manage.py export_examples FILE`: training examples as JSONL, every field (or the legacy format)."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ready4hire.errors import DomainError
from training.models import TrainingExample
from training.selectors import example_list
from training.services import examples_export_jsonl
from training.services.jsonl import EXPORT_FORMATS


class Command(BaseCommand):
    help = (
        "Export training examples to a JSONL file, oldest first: every field by default, so import_examples "
        "restores them whole; --format legacy writes the original collector's format only."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The JSONL file to write, or - for standard output.")
        parser.add_argument(
            "--review-status",
            action="append",
            choices=TrainingExample.ReviewStatus.values,
            help="Only these review states (repeat for several). Default: all.",
        )
        parser.add_argument(
            "--source",
            action="append",
            choices=TrainingExample.Source.values,
            help="Only these sources (repeat for several). Default: all.",
        )
        parser.add_argument("--min-score", type=float, help="Only examples scored at least this.")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=EXPORT_FORMATS,
            default="full",
            help="full (default): every field; legacy: the original collector's fields only.",
        )
        # Before the full format was the default, it had to be asked for: old scripts still pass this.
        parser.add_argument("--extended", action="store_true", help="The full format (the default).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, file: Path, review_status, source, min_score, fmt: str, no_progress: bool, **options):
        try:
            examples = example_list(review_status=review_status, source=source, min_score=min_score)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        total = examples.count()
        to_stdout = str(file) == "-"
        bar = tqdm(total=total, unit="ex", desc="Exporting", disable=no_progress or to_stdout, file=sys.stderr)
        done = 0

        def on_progress(written: int) -> None:
            nonlocal done
            bar.update(written - done)
            done = written

        try:
            if to_stdout:
                written = examples_export_jsonl(out=self.stdout, examples=examples, fmt=fmt)
            else:
                file.parent.mkdir(parents=True, exist_ok=True)
                with file.open("w", encoding="utf-8") as out:
                    written = examples_export_jsonl(out=out, examples=examples, fmt=fmt, on_progress=on_progress)
        finally:
            bar.close()
        if not to_stdout:
            self.stdout.write(self.style.SUCCESS(f"Exported {written} examples to {file}."))
