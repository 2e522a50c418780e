"""Comparisons in the admin: the list with progress and the gate, a "start a comparison" form, and a detail
page with the report table and two plots per model (score against human score, confusion matrix).

The plots are small SVG images drawn here rather than with matplotlib: two fixed chart types do not justify
a plotting library (and its numpy, pillow and font cache) in every web process, and SVG stays sharp at any
zoom. Comparisons are written by the service, never edited by hand: every field is read-only.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from evaluation.choices import Category
from ready4hire.errors import DomainError

from ..comparison_report import TABLE_COLUMNS, penalty_score, table_cell
from ..metrics import to_rating
from ..models import ComparisonRun, DatasetExport, JobStatus
from ..selectors.comparisons import ScorePoint, comparison_points
from ..services.comparisons import comparison_cancel, comparison_create
from .display import job_state
from .jobs import cancel_action

MODELS_HELP = gettext_lazy(
    "One model per line as LABEL=REF, the base first. REF: a server model name, NAME:vN (e.g. ready4hire:v3), "
    "latest or tiny-base; add @ollama+URL or @openai+URL to grade on another server."
)


class ComparisonStartForm(forms.Form):
    models = forms.CharField(
        label=gettext_lazy("Models"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        initial="base=tiny-base\nft=latest",
        help_text=MODELS_HELP,
    )
    dataset = forms.ModelChoiceField(
        label=gettext_lazy("Dataset"),
        queryset=DatasetExport.objects.filter(status=JobStatus.DONE).order_by("-created_at", "-pk"),
        required=False,
        empty_label=gettext_lazy("— approved examples (filters below) —"),
        help_text=gettext_lazy("Compare on this export's split; empty: on approved examples matching the filters."),
    )
    split = forms.ChoiceField(
        label=gettext_lazy("Split"),
        choices=[("val", gettext_lazy("Validation")), ("train", gettext_lazy("Training"))],
        initial="val",
    )
    category = forms.ChoiceField(
        label=gettext_lazy("Category"),
        choices=[("", gettext_lazy("Any")), *Category.choices],
        required=False,
        help_text=gettext_lazy("Without an export only."),
    )
    repeats = forms.IntegerField(
        label=gettext_lazy("Repeats"),
        min_value=1,
        initial=1,
        help_text=gettext_lazy("Grades per model and example (consistency)."),
    )
    limit = forms.IntegerField(
        label=gettext_lazy("Limit"), min_value=1, required=False, help_text=gettext_lazy("Only the first N examples.")
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200, required=False)

    def clean_models(self) -> list[tuple[str, str]]:
        pairs = []
        for number, line in enumerate(self.cleaned_data["models"].splitlines(), start=1):
            if not line.strip():
                continue
            label, sep, ref = line.partition("=")
            if not sep or not label.strip() or not ref.strip():
                raise forms.ValidationError(
                    _("Line %(number)d: write LABEL=REF, e.g. base=llama3.2:3b.") % {"number": number}
                )
            pairs.append((label.strip(), ref.strip()))
        return pairs

    def clean(self):
        data = super().clean()
        if data.get("dataset") and data.get("category"):
            raise forms.ValidationError(_("Choose an export or a category filter, not both."))
        return data


# --- the plots ------------------------------------------------------------------------------------------------

_SIZE, _MARGIN = 300, 38
_PLOT = _SIZE - 2 * _MARGIN


def _svg(body: str, title: str, width: int = _SIZE, height: int = _SIZE) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="10"><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="white"/>{body}</svg>'
    )


def score_x(value: float) -> float:
    """Where a 0-10 score lies across a score-against-score plot."""
    return _MARGIN + value / 10 * _PLOT


def score_y(value: float) -> float:
    return _SIZE - _MARGIN - value / 10 * _PLOT


def score_frame() -> list[str]:
    """A score-against-score plot's frame, its 0-10 ticks on both axes and the dashed diagonal (also the
    calibration reliability plot's, training/admin/calibrations.py)."""
    x, y = score_x, score_y
    parts = [f'<rect x="{_MARGIN}" y="{_MARGIN}" width="{_PLOT}" height="{_PLOT}" fill="none" stroke="#999"/>']
    for tick in range(0, 11, 2):
        parts.append(f'<text x="{x(tick):.1f}" y="{_SIZE - _MARGIN + 13}" text-anchor="middle">{tick}</text>')
        parts.append(f'<text x="{_MARGIN - 6}" y="{y(tick) + 3:.1f}" text-anchor="end">{tick}</text>')
    parts.append(f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(10)}" y2="{y(10)}" stroke="#bbb" stroke-dasharray="4 3"/>')
    return parts


def scatter_svg(points: list[ScorePoint], *, label: str) -> str:
    """Model score (y) against human score (x), the diagonal for perfect agreement; a miss is a red cross at
    its penalty score, as the metrics count it."""
    x, y = score_x, score_y
    parts = score_frame()
    for point in points:
        if point.score is None:
            cx, cy = x(point.human), y(penalty_score(point.human))
            parts.append(
                f'<path d="M{cx - 4:.1f} {cy - 4:.1f}L{cx + 4:.1f} {cy + 4:.1f}M{cx - 4:.1f} {cy + 4:.1f}'
                f'L{cx + 4:.1f} {cy - 4:.1f}" stroke="#c0392b" stroke-width="1.5"/>'
            )
        else:
            parts.append(
                f'<circle cx="{x(point.human):.1f}" cy="{y(point.score):.1f}" r="4" '
                'fill="#2c6fbb" fill-opacity="0.45"/>'
            )
    parts.append(f'<text x="{_SIZE / 2}" y="{_SIZE - 6}" text-anchor="middle">{escape(_("human score"))}</text>')
    parts.append(
        f'<text x="11" y="{_SIZE / 2}" text-anchor="middle" transform="rotate(-90 11 {_SIZE / 2})">'
        f"{escape(_('%(model)s score') % {'model': label})}</text>"
    )
    invalid = escape(_("× invalid (counted at its penalty)"))
    parts.append(f'<text x="{_MARGIN}" y="{_MARGIN - 8}" fill="#c0392b">{invalid}</text>')
    return _svg("".join(parts), _("%(model)s: score against human score") % {"model": label})


def confusion_svg(points: list[ScorePoint], *, label: str) -> str:
    """Counts of (human rating, model rating) on the rounded 0–10 scale, with a last column for invalid grades."""
    counts = Counter(
        (to_rating(point.human), to_rating(point.score) if point.score is not None else 11) for point in points
    )
    top = max(counts.values(), default=1)
    cell = _PLOT / 12
    width = _SIZE + 12
    bottom = _MARGIN + 11 * cell  # eleven human ratings, 0 at the bottom
    parts = []
    for column in range(12):
        text = "✗" if column == 11 else str(column)
        parts.append(
            f'<text x="{_MARGIN + (column + 0.5) * cell:.1f}" y="{bottom + 12:.1f}" text-anchor="middle">{text}</text>'
        )
    for row in range(11):
        top_y = _MARGIN + (10 - row) * cell
        parts.append(f'<text x="{_MARGIN - 6}" y="{top_y + cell / 2 + 3:.1f}" text-anchor="end">{row}</text>')
        for column in range(12):
            count = counts.get((row, column), 0)
            shade = (
                f"rgba(192,57,43,{0.15 + 0.85 * count / top:.2f})"
                if column == 11
                else (f"rgba(44,111,187,{0.15 + 0.85 * count / top:.2f})")
            )
            left = _MARGIN + column * cell
            parts.append(
                f'<rect x="{left:.1f}" y="{top_y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                f'fill="{shade if count else "#f6f6f6"}" stroke="white"/>'
            )
            if count:
                parts.append(
                    f'<text x="{left + cell / 2:.1f}" y="{top_y + cell / 2 + 3:.1f}" text-anchor="middle" '
                    f'font-size="8">{count}</text>'
                )
    model_rating = escape(_("%(model)s rating") % {"model": label})
    parts.append(f'<text x="{_SIZE / 2}" y="{bottom + 28:.1f}" text-anchor="middle">{model_rating}</text>')
    parts.append(
        f'<text x="11" y="{_SIZE / 2}" text-anchor="middle" transform="rotate(-90 11 {_SIZE / 2})">'
        f"{escape(_('human rating'))}</text>"
    )
    return _svg("".join(parts), _("%(model)s: confusion matrix") % {"model": label}, width=width)


PLOTS = {"scatter": scatter_svg, "confusion": confusion_svg}


# --- the admin ------------------------------------------------------------------------------------------------


def _relative_change(change: dict) -> str:
    if change["relative"] is None:
        return "—"
    low, high = change["relative_ci"]
    interval = f" ({low:+.1%} to {high:+.1%})" if low is not None else ""
    return f"{change['relative']:+.1%}{interval}"


@admin.register(ComparisonRun)
class ComparisonRunAdmin(admin.ModelAdmin):
    actions = [cancel_action(lambda pk: comparison_cancel(comparison_id=pk))]
    list_display = [
        "id",
        "name",
        "state",
        "model_labels",
        "example_count",
        "repeats",
        "gate_result",
    ]
    list_display_links = ["id", "name"]
    list_filter = ["status"]
    search_fields = ["name"]
    list_select_related = ["dataset_export"]
    ordering = ["-created_at", "-id"]
    change_form_template = "admin/training/comparisonrun/change_form.html"
    fields = [
        "name",
        ("state", "error"),
        "dataset_export",
        "split",
        "repeats",
        "seed",
        "models_compared",
        ("requested_by", "requested_by_key"),
        ("created_at", "started_at", "finished_at"),
    ]
    readonly_fields = [field for row in fields for field in ((row,) if isinstance(row, str) else row)]

    @admin.display(description=gettext_lazy("Models (the first is the base)"))
    def models_compared(self, obj: ComparisonRun) -> str:
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                "<li><strong>{}</strong>: {} — {} {} {} ({})</li>",
                (
                    (
                        c["label"],
                        c["ref"],
                        c["model"],
                        _("on"),
                        c["gguf_path"] or f"{c['backend']} {c['base_url']}",
                        _("%(variant)s prompt") % {"variant": c.get("prompt_variant") or "full"},
                    )
                    for c in obj.contenders
                ),
            ),
        )

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def state(self, obj: ComparisonRun) -> str:
        return job_state(obj)

    @admin.display(description=gettext_lazy("Models"))
    def model_labels(self, obj: ComparisonRun) -> str:
        return f" {_('vs')} ".join(contender["label"] for contender in obj.contenders)

    @admin.display(description=gettext_lazy("Examples"))
    def example_count(self, obj: ComparisonRun) -> int:
        return len((obj.filters or {}).get("example_ids") or [])

    @admin.display(description=gettext_lazy("Gate"))
    def gate_result(self, obj: ComparisonRun) -> str:
        if not obj.gate:
            return "—"
        return ", ".join(
            f"{label}: {_('passed') if verdict['passed'] else _('failed')}" for label, verdict in obj.gate.items()
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path(
                "<int:object_id>/plots/<str:kind>.svg",
                self.admin_site.admin_view(self.plot_view),
                name="training_comparisonrun_plot",
            ),
            *super().get_urls(),
        ]

    def plot_view(self, request: HttpRequest, object_id: int, kind: str) -> HttpResponse:
        run = self.get_object(request, str(object_id))
        if run is None or kind not in PLOTS:
            raise Http404
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        label = request.GET.get("model", "")
        if label not in {contender["label"] for contender in run.contenders}:
            raise Http404
        svg = PLOTS[kind](comparison_points(run=run, label=label), label=label)
        return HttpResponse(svg, content_type="image/svg+xml")

    @staticmethod
    def _plot_url(run: ComparisonRun, kind: str, label: str) -> str:
        return f"{reverse('admin:training_comparisonrun_plot', args=[run.pk, kind])}?{urlencode({'model': label})}"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        run = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if run is not None and run.report:
            report = run.report
            context["report_rows"] = [
                {
                    "label": label,
                    "cells": [table_cell(figures, key, kind) for _, key, kind in TABLE_COLUMNS],
                    "more": figures,
                    "plots": [(kind, self._plot_url(run, kind, label)) for kind in PLOTS],
                }
                for label, figures in report["models"].items()
            ]
            context["report_columns"] = [title for title, _, _ in TABLE_COLUMNS]
            context["estimate_note"] = any(
                figures.get("prompt_tokens_source") == "estimate" for figures in report["models"].values()
            )
            context["left_out"] = report.get("left_out") or []
            context["verdicts"] = [
                {
                    "label": label,
                    "over": change["over"],
                    "qwk": _relative_change(change["qwk"]),
                    "mae": _relative_change(change["mae"]),
                    "passed": report["gate"][label]["passed"],
                    "reasons": report["gate"][label]["reasons"],
                }
                for label, change in report["improvement"].items()
            ]
        return super().change_view(request, object_id, form_url, extra_context=context)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """The "start a comparison" form: it queues a run, then shows its page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ComparisonStartForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                run = comparison_create(
                    models=data["models"],
                    dataset_export_id=data["dataset"].pk if data["dataset"] else None,
                    split=data["split"],
                    filters={"category": data["category"]} if data["category"] else None,
                    repeats=data["repeats"],
                    limit=data["limit"],
                    name=data["name"],
                    requested_by=request.user,
                )
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(
                    request, format_html(_("Comparison #{number} queued."), number=run.pk), messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:training_comparisonrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Start a comparison"),
            "form": form,
        }
        return TemplateResponse(request, "admin/training/comparisonrun/start.html", context)
