"""`manage.py export_dataset`: export curated examples as a versioned train/validation dataset."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.choices import PROMPT_VARIANTS, PromptVariant
from ready4hire.errors import DomainError
from training.exports.filters import MIN_SCORE_HELP, ExportFilters
from training.formats import FORMATS
from training.models import JobStatus
from training.selectors import dataset_export_paths, dataset_preview
from training.services import dataset_export_submit

# Filter options: comma-separated values, the option may also be repeated; the filter field each one sets.
LIST_OPTIONS = {
    "status": "review_statuses",
    "source": "sources",
    "category": "categories",
    "difficulty": "difficulties",
    "language": "languages",
}


def _values(option: str, given: list[str] | None) -> tuple[str, ...] | None:
    if given is None:
        return None
    values = tuple(value.strip() for item in given for value in item.split(",") if value.strip())
    if not values:
        raise CommandError(f"--{option} needs at least one value.")
    return values


class Command(BaseCommand):
    help = (
        "Export curated examples as a versioned train/validation dataset (MEDIA_ROOT/datasets/NAME/vN/) with a "
        "manifest, LLaMA-Factory and Axolotl entries and a training guide. Defaults: approved examples of source "
        "human or llm. The split is stratified by category and score bucket: every category with two or more "
        "examples has one in validation, a category with a single example always trains."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default="ready4hire", help="Dataset name; each export is its next version.")
        parser.add_argument("--format", choices=FORMATS, default="messages", help="Record format (default messages).")
        parser.add_argument(
            "--prompt",
            dest="prompt_variant",
            choices=PROMPT_VARIANTS,
            default=PromptVariant.FULL,
            help="The system prompt in every row: full (rubric and JSON Schema, default) or compact (a few "
            "sentences, for a grader fine-tuned on it; its versions are then served the compact prompt).",
        )
        parser.add_argument("--train-split", type=float, default=0.8, help="Share of examples that train (0-1).")
        parser.add_argument("--seed", type=int, default=42, help="Same rows, filters and seed: byte-identical files.")
        parser.add_argument(
            "--balance-categories", action="store_true", help="Down-sample every category to the smallest one."
        )
        parser.add_argument("--min-score", type=float, help=MIN_SCORE_HELP)
        parser.add_argument("--status", action="append", help="Review states, comma-separated (default approved).")
        parser.add_argument("--source", action="append", help="Sources, comma-separated (default human,llm).")
        parser.add_argument("--category", action="append", help="Only these categories (comma-separated).")
        parser.add_argument("--difficulty", action="append", help="Only these difficulties (comma-separated).")
        parser.add_argument("--language", action="append", help="Only these languages (comma-separated).")
        parser.add_argument("--preview", type=int, metavar="N", help="Print N formatted examples and write nothing.")

    def handle(self, *args, **options) -> None:
        given = {
            field: values
            for option, field in LIST_OPTIONS.items()
            if (values := _values(option, options[option])) is not None
        }
        try:
            filters = ExportFilters(min_score=options["min_score"], **given)
        except DomainError as exc:
            raise CommandError(f"{self._option(exc.field)}: {exc}") from None

        if options["preview"] is not None:
            if options["preview"] < 1:
                raise CommandError("--preview: give the number of examples to print, 1 or more.")
            records = dataset_preview(
                fmt=options["format"],
                filters=filters,
                limit=options["preview"],
                prompt_variant=options["prompt_variant"],
            )
            if not records:
                raise CommandError(f"No examples match the filters ({filters.describe()}).")
            for record in records:
                self.stdout.write(json.dumps(record, ensure_ascii=False, indent=2))
            return

        try:
            export = dataset_export_submit(
                name=options["name"],
                fmt=options["format"],
                filters=filters,
                train_share=options["train_split"],
                seed=options["seed"],
                balance_categories=options["balance_categories"],
                prompt_variant=options["prompt_variant"],
                wait=True,
            )
        except DomainError as exc:
            raise CommandError(f"{self._option(exc.field)}: {exc}") from None
        if export.status != JobStatus.DONE:
            raise CommandError(f"Export {export} failed: {export.error}")

        prompt = f", {export.prompt_variant} prompt" if export.prompt_variant != PromptVariant.FULL else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {export.name} version {export.version} ({export.format}{prompt}). Dataset export id "
                f"{export.pk}: use it with --dataset {export.pk}."
            )
        )
        self.stdout.write(
            f"  {export.train_count} train, {export.val_count} validation "
            f"({export.counts['matched']} matched, {export.counts['dropped_by_balancing']} dropped by balancing)"
        )
        for split in ("train", "val"):
            by_category = ", ".join(f"{name} {count}" for name, count in export.counts[split]["by_category"].items())
            self.stdout.write(f"  {split} by category: {by_category}")
        for key, path in dataset_export_paths(export=export).items():
            self.stdout.write(f"  {key}: {path}")
        for warning in export.warnings:
            self.stdout.write(self.style.WARNING(f"Warning: {warning}"))

    @staticmethod
    def _option(field: str | None) -> str:
        options = {
            "name": "--name",
            "format": "--format",
            "train_share": "--train-split",
            "seed": "--seed",
            "prompt_variant": "--prompt",
            "min_score": "--min-score",
            "filters": "filters",
            **{field: f"--{option}" for option, field in LIST_OPTIONS.items()},
        }
        return options.get(field or "", "error")
