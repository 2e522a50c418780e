"""Dataset exports in the admin: the list with progress and counts, a "new export" form with a preview, and
downloads. Exports are written by the service, never edited by hand: every field is read-only."""

from __future__ import annotations

import json
from itertools import islice

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from evaluation.llm.schema import CATEGORIES, DIFFICULTIES, LANGUAGES
from ready4hire.errors import DomainError, NotFound

from ..exports.filters import DEFAULT_REVIEW_STATUSES, DEFAULT_SOURCES, MIN_SCORE_HELP, ExportFilters
from ..formats import FORMATS
from ..models import DatasetExport, JobStatus, TrainingExample
from ..selectors.exports import EXPORT_FILES, dataset_export_file_path, dataset_preview
from ..services.exports import dataset_export_submit

PREVIEW_EXAMPLES = 3
SPLIT_HELP = (
    "Stratified by category and score bucket: every category with two or more examples has at least one "
    "validation example; a category with a single example always trains."
)


class DatasetExportForm(forms.Form):
    name = forms.SlugField(max_length=100, initial="ready4hire", help_text="Each export is the next version.")
    format = forms.ChoiceField(choices=[(fmt, fmt) for fmt in FORMATS], initial="messages")
    train_share = forms.FloatField(min_value=0.01, max_value=0.99, initial=0.8, help_text=SPLIT_HELP)
    seed = forms.IntegerField(initial=42, help_text="The same rows, filters and seed give byte-identical files.")
    balance_categories = forms.BooleanField(
        required=False, help_text="Down-sample every category to the size of the smallest (seeded)."
    )
    review_statuses = forms.MultipleChoiceField(
        choices=TrainingExample.ReviewStatus.choices,
        initial=list(DEFAULT_REVIEW_STATUSES),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every state.",
    )
    sources = forms.MultipleChoiceField(
        choices=TrainingExample.Source.choices,
        initial=list(DEFAULT_SOURCES),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every source.",
    )
    min_score = forms.FloatField(required=False, min_value=0, max_value=10, help_text=MIN_SCORE_HELP)
    categories = forms.MultipleChoiceField(
        choices=[(value, value) for value in CATEGORIES], widget=forms.CheckboxSelectMultiple, required=False
    )
    difficulties = forms.MultipleChoiceField(
        choices=[(value, value) for value in DIFFICULTIES], widget=forms.CheckboxSelectMultiple, required=False
    )
    languages = forms.MultipleChoiceField(
        choices=[(value, value) for value in LANGUAGES], widget=forms.CheckboxSelectMultiple, required=False
    )

    def export_filters(self) -> ExportFilters:
        data = self.cleaned_data
        return ExportFilters(
            sources=tuple(data["sources"]),
            review_statuses=tuple(data["review_statuses"]),
            min_score=data["min_score"],
            categories=tuple(data["categories"]),
            difficulties=tuple(data["difficulties"]),
            languages=tuple(data["languages"]),
        )


@admin.register(DatasetExport)
class DatasetExportAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "status",
        "progress_bar",
        "train_count",
        "val_count",
        "balance_categories",
        "scheduled",
        "requested",
        "created_at",
        "downloads",
    ]
    list_filter = ["status", "format", "scheduled", "balance_categories", "name"]
    search_fields = ["name", "error"]
    date_hierarchy = "created_at"
    fields = [
        "name",
        "version",
        "format",
        "status",
        "progress_bar",
        "error",
        "filters_text",
        "train_share",
        "seed",
        "balance_categories",
        "prompt_version",
        "train_count",
        "val_count",
        "counts_table",
        "downloads",
        "scheduled",
        "requested",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/training/datasetexport/change_form.html"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("requested_by", "requested_by_key")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # An export is a record of what was written: the change page only shows it.
        return False

    # --- columns ----------------------------------------------------------------------------------------

    @admin.display(description="Progress")
    def progress_bar(self, obj: DatasetExport) -> str:
        return format_html('<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress)

    @admin.display(description="Requested by")
    def requested(self, obj: DatasetExport) -> str:
        if obj.scheduled:
            return "schedule"
        if obj.requested_by is not None:
            return obj.requested_by.get_username()
        if obj.requested_by_key is not None:
            return f"API key {obj.requested_by_key.name}"
        return "-"

    @admin.display(description="Files")
    def downloads(self, obj: DatasetExport) -> str:
        if obj.status != JobStatus.DONE:
            return "-"
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:training_datasetexport_download", args=[obj.pk, key]), key)
                for key in EXPORT_FILES
                if key in obj.files
            ),
        )

    @admin.display(description="Filters")
    def filters_text(self, obj: DatasetExport) -> str:
        return ExportFilters.from_json(obj.filters).describe()

    @admin.display(description="Counts")
    def counts_table(self, obj: DatasetExport) -> str:
        if not obj.counts:
            return "-"
        rows = []
        for group in ("by_category", "by_difficulty", "by_source", "by_score_bucket"):
            for value in obj.counts.get("total", {}).get(group, {}):
                rows.append(
                    (
                        group.removeprefix("by_").replace("_", " "),
                        value,
                        obj.counts["train"][group].get(value, 0),
                        obj.counts["val"][group].get(value, 0),
                    )
                )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<p>{} matched, {} dropped by balancing.</p>"
            "<table><thead><tr><th>by</th><th>value</th><th>train</th><th>validation</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            obj.counts.get("matched", 0),
            obj.counts.get("dropped_by_balancing", 0),
            body,
        )

    # --- pages ------------------------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<int:export_id>/download/<str:file>/",
                self.admin_site.admin_view(self.download_view),
                name="training_datasetexport_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, export_id: int, file: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        export = self.get_object(request, str(export_id))
        if export is None:
            return self._not_found(request, f"Dataset export {export_id} does not exist.")
        try:
            file_path = dataset_export_file_path(export=export, file=file)
        except NotFound as exc:
            return self._not_found(request, str(exc))
        return FileResponse(file_path.open("rb"), as_attachment=True, filename=file_path.name)

    def _not_found(self, request: HttpRequest, message: str) -> HttpResponse:
        self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:training_datasetexport_changelist"))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """The "new export" form: preview the first examples, or start the export on a worker."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DatasetExportForm(request.POST or None)
        preview: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                filters = form.export_filters()
                if "_preview" in request.POST:
                    records = dataset_preview(fmt=form.cleaned_data["format"], filters=filters, limit=PREVIEW_EXAMPLES)
                    preview = [json.dumps(record, ensure_ascii=False, indent=2) for record in records]
                    if not preview:
                        form.add_error(None, f"No examples match the filters ({filters.describe()}).")
                else:
                    export = dataset_export_submit(
                        name=form.cleaned_data["name"],
                        fmt=form.cleaned_data["format"],
                        filters=filters,
                        train_share=form.cleaned_data["train_share"],
                        seed=form.cleaned_data["seed"],
                        balance_categories=form.cleaned_data["balance_categories"],
                        requested_by=request.user,
                    )
                    self.message_user(request, f"Export {export} started: a worker is writing it.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:training_datasetexport_change", args=[export.pk]))
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "New dataset export",
            "form": form,
            "preview": preview,
        }
        return TemplateResponse(request, "admin/training/datasetexport/new_export.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        export = self.get_object(request, object_id)
        preview: list[str] = []
        if export is not None and export.status == JobStatus.DONE:
            try:
                with dataset_export_file_path(export=export, file="train").open(encoding="utf-8") as lines:
                    preview = [
                        json.dumps(json.loads(line), ensure_ascii=False, indent=2)
                        for line in islice(lines, PREVIEW_EXAMPLES)
                    ]
            except NotFound as exc:
                self.message_user(request, str(exc), messages.WARNING)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "preview": preview})
