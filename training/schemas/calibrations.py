"""API schemas of calibrations: fit one, list them, and the agreement monitor's rows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from evaluation.choices import CATEGORIES
from ready4hire.validation import InputSchema, Text

# One category, or "all" of them (stored as ''); one Literal, so an error names the field alone.
CalibrationCategory = Literal[("all", *CATEGORIES)]  # type: ignore[valid-type]


class CalibrationIn(InputSchema):
    grader: Text = Field(max_length=200, description="The model to calibrate: a model name or a version NAME:vN.")
    category: CalibrationCategory = Field(default="all", description="One category, or all of them.")


class CalibrationFilters(InputSchema):
    grader: Text | None = Field(default=None, max_length=200)
    category: CalibrationCategory | None = None
    active: bool | None = None


class CalibrationOut(Schema):
    id: int
    grader: str
    category: str = Field(description="The category it applies to; 'all' for every category.")
    version: int
    examples: int = Field(description="Reviewed examples it was fitted on.")
    knots: list[list[float]] = Field(description="The fitted map as [raw, calibrated] points, ascending in raw.")
    folds: int
    mae_before: float | None = Field(description="Raw scores vs. the human scores (mean absolute error).")
    mae_after: float | None = Field(description="Calibrated vs. human, each fold calibrated by a fit on the others.")
    qwk_before: float | None
    qwk_after: float | None
    msd_before: float | None = Field(description="Mean signed difference: positive when the grader is lenient.")
    msd_after: float | None
    active: bool = Field(description="Applied to new grades: only a fit that lowers the cross-validated MAE is.")
    note: str
    trigger: str
    created_at: datetime

    @staticmethod
    def resolve_category(obj) -> str:
        return obj.category or "all"


class AgreementMonitorOut(Schema):
    grader: str
    category: str = Field(description="The category; '' when the row covers every category.")
    items: int = Field(description="Reviews counted: the grader's last N in the category.")
    qwk: float | None
    mae: float | None
    mean_signed_difference: float | None = Field(description="Machine minus human: positive = lenient.")
