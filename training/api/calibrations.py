"""Calibrations (mounted at /api/v1/calibrations): fit one for a grader and category, list them."""

# Annotations stay evaluated (no `from __future__ import annotations`): ninja resolves a @paginate view's
# string annotations in its own module, where the schemas are not defined.
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from evaluation.auth import request_actor, require_permission, scoped
from ready4hire.pagination import Pagination

from ..models import Calibration
from ..schemas.calibrations import CalibrationFilters, CalibrationIn, CalibrationOut
from ..selectors.calibration import calibration_list
from ..services.calibration import calibration_fit

router = Router(tags=["calibrations"], auth=scoped("train", session_permission="training.view_calibration"))


@router.post("", response={201: CalibrationOut})
def calibration_create(request: HttpRequest, payload: CalibrationIn):
    """Fit the grader's calibration on its reviewed examples; it becomes active when it lowers the
    cross-validated MAE. 422 when the grader is unknown or has fewer than CALIBRATION_MIN_EXAMPLES."""
    require_permission(request, "training.add_calibration")
    calibration = calibration_fit(
        grader=payload.grader,
        category=payload.category,
        trigger=Calibration.Trigger.API,
        created_by=request_actor(request).user,
    )
    return Status(201, calibration)


@router.get("", response=list[CalibrationOut])
@paginate(Pagination)
def calibrations(request: HttpRequest, filters: Query[CalibrationFilters]):
    """Calibrations, newest first."""
    return calibration_list(**filters.model_dump())
