"""Calibrations in the admin, beside the comparisons: the list with the before/after figures, a "fit a
calibration" form, a detail page with the reliability plot and the fitted points, and an action that stops
applying a calibration. Fits are written by the service, never edited by hand: every field is read-only.

The reliability plot is SVG drawn here like the comparison plots (training/admin/comparisons.py), with their
frame: the mean human score against the grader's score per rounded rating, raw (before) and calibrated by
cross-validation (after), beside the diagonal of perfect calibration and the fitted map itself.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy, ngettext

from evaluation.choices import Category
from ready4hire.errors import DomainError

from ..models import Calibration
from ..selectors.calibration import reviewed_counts
from ..services.calibration import calibration_deactivate, calibration_fit
from .comparisons import _MARGIN, _SIZE, _svg, score_frame, score_x, score_y

_SERIES = (("before", "#e67e22", gettext_lazy("raw")), ("after", "#2c6fbb", gettext_lazy("calibrated")))


def reliability_svg(calibration: Calibration) -> str:
    """Mean human score (y) against the grader's score (x) per rounded rating, before and after calibrating;
    each point's area follows its number of examples. On the diagonal: calibrated."""
    x, y = score_x, score_y
    parts = score_frame()
    if calibration.knots:
        mapped = " ".join(f"{x(raw):.1f},{y(value):.1f}" for raw, value in calibration.knots)
        parts.append(f'<polyline points="{mapped}" fill="none" stroke="#888" stroke-width="1"/>')
    largest = max((n for key, _, _ in _SERIES for *_, n in calibration.reliability.get(key, [])), default=1)
    for key, colour, _ in _SERIES:
        points = calibration.reliability.get(key, [])
        line = " ".join(f"{x(score):.1f},{y(human):.1f}" for score, human, _ in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for score, human, count in points:
            radius = 2.5 + 4.5 * (count / largest) ** 0.5
            parts.append(
                f'<circle cx="{x(score):.1f}" cy="{y(human):.1f}" r="{radius:.1f}" fill="{colour}" '
                f'fill-opacity="0.55"><title>{_examples(count)}</title></circle>'
            )
    for row, (key, colour, name) in enumerate(_SERIES):
        mae = _figure(getattr(calibration, f"mae_{key}"))
        top = _MARGIN + 12 + 12 * row
        parts.append(f'<text x="{_MARGIN + 6}" y="{top}" fill="{colour}">● {escape(name)} (MAE {mae})</text>')
    parts.append(f'<text x="{_MARGIN + 6}" y="{_MARGIN + 36}" fill="#888">— {escape(gettext("fitted map"))}</text>')
    grader_score = escape(gettext("%(grader)s score") % {"grader": calibration.grader})
    parts.append(f'<text x="{_SIZE / 2}" y="{_SIZE - 6}" text-anchor="middle">{grader_score}</text>')
    parts.append(
        f'<text x="11" y="{_SIZE / 2}" text-anchor="middle" transform="rotate(-90 11 {_SIZE / 2})">'
        f"{escape(gettext('mean human score'))}</text>"
    )
    return _svg("".join(parts), gettext("%(calibration)s: reliability") % {"calibration": calibration})


def _examples(count: int) -> str:
    return ngettext("%(count)d example", "%(count)d examples", count) % {"count": count}


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


class CalibrationFitForm(forms.Form):
    grader = forms.CharField(
        label=gettext_lazy("Grader"),
        max_length=200,
        help_text=gettext_lazy("A model name, or a model version NAME:vN."),
    )
    category = forms.ChoiceField(
        label=gettext_lazy("Category"),
        choices=[("all", gettext_lazy("All categories")), *Category.choices],
        initial="all",
    )


@admin.register(Calibration)
class CalibrationAdmin(admin.ModelAdmin):
    list_display = ["grader", "category_display", "version", "examples", "mae", "qwk", "active", "created_at"]
    list_display_links = ["grader"]
    list_filter = ["active", "category", "trigger"]
    search_fields = ["grader"]
    ordering = ["-created_at", "-id"]
    actions = ["deactivate"]
    change_form_template = "admin/training/calibration/change_form.html"
    fields = [
        ("grader", "category_display", "version"),
        ("active", "note"),
        ("examples", "folds"),
        ("mae_before", "mae_after"),
        ("qwk_before", "qwk_after"),
        ("msd_before", "msd_after"),
        ("trigger", "created_by", "created_at"),
    ]
    readonly_fields = [field for row in fields for field in ((row,) if isinstance(row, str) else row)]

    @admin.display(description=gettext_lazy("Category"), ordering="category")
    def category_display(self, obj: Calibration) -> str:
        return obj.get_category_display() if obj.category else gettext("all")

    @admin.display(description=gettext_lazy("MAE raw → calibrated"))
    def mae(self, obj: Calibration) -> str:
        return f"{_figure(obj.mae_before)} → {_figure(obj.mae_after)}"

    @admin.display(description=gettext_lazy("QWK raw → calibrated"))
    def qwk(self, obj: Calibration) -> str:
        return f"{_figure(obj.qwk_before)} → {_figure(obj.qwk_after)}"

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_deactivate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("training.change_calibration")

    @admin.action(description=gettext_lazy("Stop applying the selected calibrations"), permissions=["deactivate"])
    def deactivate(self, request: HttpRequest, queryset) -> None:
        stopped = [str(calibration_deactivate(calibration=c)) for c in queryset.filter(active=True)]
        if stopped:
            self.message_user(
                request,
                gettext("No longer applied: %(calibrations)s.") % {"calibrations": "; ".join(stopped)},
                messages.SUCCESS,
            )
        else:
            self.message_user(request, gettext("None of the selected calibrations was active."), messages.WARNING)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        calibration = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if calibration is not None:
            # Our own markup, every text in it escaped: safe to inline.
            context["reliability_svg"] = mark_safe(reliability_svg(calibration))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """The "fit a calibration" form: it fits at once (milliseconds), then shows the fit's page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CalibrationFitForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                calibration = calibration_fit(
                    grader=form.cleaned_data["grader"],
                    category=form.cleaned_data["category"],
                    trigger=Calibration.Trigger.ADMIN,
                    created_by=request.user,
                )
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                state = gettext("applied to new grades") if calibration.active else calibration.note
                self.message_user(request, format_html("{}: {}", calibration, state), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:training_calibration_change", args=[calibration.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Fit a calibration"),
            "form": form,
            "reviewed": sorted(reviewed_counts().items()),
        }
        return TemplateResponse(request, "admin/training/calibration/fit.html", context)
