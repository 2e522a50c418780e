"""`manage.py calibrate [--grader NAME] [--category C]`: fit calibrations and print the before/after table."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluation.choices import CATEGORIES
from ready4hire.errors import DomainError
from training.models import Calibration
from training.selectors.calibration import reviewed_counts
from training.services.calibration import calibration_fit

COLUMNS = ("grader", "category", "version", "examples", "MAE raw", "MAE calibrated", "QWK raw", "QWK calibrated")


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def table(calibrations: list[Calibration]) -> list[str]:
    """The before/after table: figures are cross-validated on the reviewed examples."""
    rows = [COLUMNS] + [
        (
            c.grader,
            c.category_label,
            f"v{c.version}",
            str(c.examples),
            _number(c.mae_before),
            _number(c.mae_after),
            _number(c.qwk_before),
            _number(c.qwk_after),
        )
        for c in calibrations
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]


class Command(BaseCommand):
    help = (
        "Fit a grader's calibration (its raw scores mapped to the reviewers' scale) on its reviewed examples and "
        "print the cross-validated figures before and after. A fit becomes active only when it lowers the MAE. "
        "Without --grader: every grader with enough reviewed examples."
    )

    def add_arguments(self, parser):
        parser.add_argument("--grader", help="A model name, or a model version NAME:vN.")
        parser.add_argument("--category", choices=[*CATEGORIES, "all"], default="all")

    def handle(self, *args, grader: str | None, category: str, **options):
        category = "" if category == "all" else category
        graders = [grader] if grader is not None else self._graders(category)
        fitted = []
        try:
            for name in graders:
                fitted.append(calibration_fit(grader=name, category=category, trigger=Calibration.Trigger.COMMAND))
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        for line in table(fitted):
            self.stdout.write(line)
        for calibration in fitted:
            if calibration.active:
                self.stdout.write(self.style.SUCCESS(f"{calibration} is now applied to new grades."))
            else:
                self.stdout.write(self.style.WARNING(f"{calibration}: {calibration.note}"))

    def _graders(self, category: str) -> list[str]:
        counts = {grader: n for (grader, c), n in reviewed_counts().items() if c == category}
        enough = sorted(grader for grader, n in counts.items() if n >= settings.CALIBRATION_MIN_EXAMPLES)
        if not enough:
            most = max(counts.values(), default=0)
            raise CommandError(
                f"No grader has enough reviewed examples to calibrate (the most: {most}); a calibration needs at "
                f"least {settings.CALIBRATION_MIN_EXAMPLES} (CALIBRATION_MIN_EXAMPLES)."
            )
        return enough
