"""Calibration services: fit (and, when it helps, activate) a grader's calibration, refit the ones with enough
new reviews (beat), switch one off, and apply the active one to a fresh grade (the grading service's hook).

A fit is always stored, with its cross-validated figures; it replaces the active calibration of its grader and
category only when it lowers the cross-validated MAE. Refused fits (an unknown grader, too few reviewed
examples) change nothing and say how many reviewed examples are needed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction

from evaluation.choices import CATEGORIES, Category
from evaluation.llm.heuristic import HEURISTIC_MODEL_NAME
from evaluation.llm.parsing import reconcile_breakdown
from ready4hire.errors import Conflict, InvalidInput
from ready4hire.lookups import cached_lookup

from ..calibration import calibrated, calibration_knots, cross_validate, reliability
from ..models import Calibration, TrainingExample
from ..selectors.calibration import calibration_active, calibration_pairs, reviewed_counts
from ..selectors.model_names import requested_model_resolve
from .numbering import version_number_next

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)


def calibration_grader_resolve(*, grader: str) -> str:
    """The grader's name as grades carry it: a name seen on training examples or calibrations, the heuristic,
    or a model a grading request may name (a version's NAME:vN becomes its served name)."""
    grader = (grader or "").strip()
    if not grader:
        raise InvalidInput("Name the grader to calibrate (a model name or a model version NAME:vN).", field="grader")
    known = (
        grader == HEURISTIC_MODEL_NAME
        or TrainingExample.objects.filter(model=grader).exists()
        or Calibration.objects.filter(grader=grader).exists()
    )
    if known:
        return grader
    try:
        return requested_model_resolve(model=grader)
    except InvalidInput:
        graders = sorted(set(TrainingExample.objects.exclude(model="").values_list("model", flat=True).distinct()))
        raise InvalidInput(
            f"Unknown grader {grader[:100]!r}: name a model that graded training examples "
            f"({', '.join(graders[:10]) or 'none yet'}) or a registered model version (NAME:vN).",
            field="grader",
        ) from None


def _category_checked(category: str | None) -> str:
    category = "" if category in (None, "", "all") else category
    if category not in ("", *CATEGORIES):
        raise InvalidInput(f"Unknown category {category!r}: choose {', '.join(CATEGORIES)} or all.", field="category")
    return category


def calibration_fit(
    *,
    grader: str,
    category: str | None = "",
    trigger: str = Calibration.Trigger.COMMAND,
    created_by: AbstractBaseUser | None = None,
    min_examples: int | None = None,
) -> Calibration:
    """Fit the grader's calibration for the category ('' = every category) on its reviewed examples, store it
    as the next version, and make it the active one when it lowers the cross-validated MAE."""
    grader = calibration_grader_resolve(grader=grader)
    category = _category_checked(category)
    needed = settings.CALIBRATION_MIN_EXAMPLES if min_examples is None else min_examples
    pairs = calibration_pairs(grader=grader, category=category)
    if len(pairs) < max(needed, 2):
        where = f" in the {Category(category).label} category" if category else ""
        raise InvalidInput(
            f"{grader} has {len(pairs)} reviewed example{'s' if len(pairs) != 1 else ''}{where}; a calibration "
            f"needs at least {max(needed, 2)} (CALIBRATION_MIN_EXAMPLES). Approve or correct more of its grades.",
            field="category" if category and pairs else "grader",
        )
    knots = calibration_knots(pairs)
    validation = cross_validate(pairs)
    humans = [human for _, human in pairs]
    if validation.improves:
        note = ""
    else:
        note = (
            f"Not activated: calibrating does not lower the cross-validated MAE "
            f"({validation.before.mae} raw, {validation.after.mae} calibrated)."
        )
    try:
        with transaction.atomic():
            # Numbering takes the pair's counter row lock until commit, so concurrent fits of a pair queue here
            # before one of them switches the active calibration.
            version = version_number_next(model=Calibration, grader=grader, category=category)
            if validation.improves:
                Calibration.objects.filter(grader=grader, category=category, active=True).update(active=False)
            calibration = Calibration.objects.create(
                grader=grader,
                category=category,
                version=version,
                examples=len(pairs),
                knots=[list(knot) for knot in knots],
                folds=validation.folds,
                mae_before=validation.before.mae,
                mae_after=validation.after.mae,
                qwk_before=validation.before.qwk,
                qwk_after=validation.after.qwk,
                msd_before=validation.before.mean_signed_difference,
                msd_after=validation.after.mean_signed_difference,
                reliability={
                    "before": reliability([raw for raw, _ in pairs], humans),
                    "after": reliability(validation.predictions, humans),
                },
                active=validation.improves,
                note=note,
                trigger=trigger,
                created_by=created_by,
            )
    except IntegrityError:
        raise Conflict(
            f"Another calibration of {grader} ({category or 'all'}) was stored at the same moment; try again.",
            field="grader",
        ) from None
    logger.info("Calibration %s fitted on %s examples (active: %s)", calibration, len(pairs), calibration.active)
    return calibration


def calibration_deactivate(*, calibration: Calibration) -> Calibration:
    """Stop applying a calibration; grades of its grader and category go back to the raw scores (or to the
    grader's every-category calibration, when this one was for one category)."""
    if calibration.active:
        calibration.active = False
        calibration.save(update_fields=["active"])
    return calibration


def calibration_refit_if_due(*, min_new: int | None = None) -> list[Calibration]:
    """Beat's refit: fit every grader's all-category calibration, and refit each category calibration someone
    made, once it has CALIBRATION_MIN_EXAMPLES reviewed examples and `min_new` more than its last fit."""
    min_new = settings.CALIBRATION_REFIT_MIN_NEW_REVIEWS if min_new is None else min_new
    last_fitted: dict[tuple[str, str], int] = {}
    for grader, category, examples in Calibration.objects.order_by("version").values_list(
        "grader", "category", "examples"
    ):
        last_fitted[(grader, category)] = examples
    fitted = []
    for (grader, category), count in sorted(reviewed_counts().items()):
        if category and (grader, category) not in last_fitted:
            continue
        if count < settings.CALIBRATION_MIN_EXAMPLES:
            continue
        previous = last_fitted.get((grader, category))
        if previous is not None and count - previous < max(min_new, 1):
            continue
        fitted.append(calibration_fit(grader=grader, category=category, trigger=Calibration.Trigger.SCHEDULE))
    return fitted


@cached_lookup("training.Calibration")
def _active_calibration(grader: str, category: str) -> Calibration | None:
    # Every grade asks; a fit or a switch-off here is seen at once, one in another process within seconds.
    return calibration_active(grader=grader, category=category)


def calibration_apply(
    *, grader: str, category: str, result: dict[str, Any]
) -> tuple[dict[str, Any], Calibration | None]:
    """The grade as the active calibration of the grader and category puts it (the score mapped, the breakdown
    scaled to match), and that calibration; with none active, the grade unchanged and None."""
    calibration = _active_calibration(grader, category)
    if calibration is None:
        return result, None
    score = calibrated(calibration.knots, float(result["score"]))
    return {**result, "score": score, "breakdown": reconcile_breakdown(score, result["breakdown"])}, calibration
