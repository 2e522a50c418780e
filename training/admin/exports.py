"""Dataset exports in the admin: the list with progress and counts, a "new export" form with a preview, and
downloads. Exports are written by the service, never edited by hand: every field is read-only."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from evaluation.choices import Category, Difficulty, Language, PromptVariant
from ready4hire.errors import DomainError, NotFound

from ..exports.filters import DEFAULT_REVIEW_STATUSES, DEFAULT_SOURCES, MIN_SCORE_HELP, ExportFilters
from ..models import DatasetExport, JobStatus, TrainingExample
from ..selectors.exports import EXPORT_FILES, dataset_export_file_path, dataset_preview
from ..services.exports import dataset_export_cancel, dataset_export_delete, dataset_export_submit
from .display import job_state
from .jobs import cancel_action

PREVIEW_EXAMPLES = 3
SPLIT_HELP = gettext_lazy(
    "Stratified by category and score bucket: every category with two or more examples has at least one "
    "validation example; a category with a single example always trains."
)

NONE_TICKED_ALL = gettext_lazy("None ticked: all.")


def preview_turns(record: dict) -> list[tuple[str, str]]:
    """A record of any format as (role, text) turns, the grade pretty-printed: what a person checks in a preview
    is the example, not the JSON escaping of a long system prompt."""
    if "conversations" in record:
        roles = {"system": "system", "human": "user", "gpt": "assistant"}
        turns = [(roles.get(turn["from"], turn["from"]), turn["value"]) for turn in record["conversations"]]
    elif "messages" in record:
        turns = [(turn["role"], turn["content"]) for turn in record["messages"]]
    else:
        turns = [("system", record["instruction"]), ("user", record["input"]), ("assistant", record["output"])]
    shown = []
    for role, text in turns:
        if role == "assistant":
            try:
                text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
            except ValueError:
                pass  # not JSON: shown as it is
        shown.append((role, text))
    return shown


def _ticked_filter(label: str, choices: list, initial: Iterable[str], help_text: str) -> forms.MultipleChoiceField:
    """A filter of checkboxes where none ticked means no filter; `initial` are the ones ticked at first."""
    return forms.MultipleChoiceField(
        label=label,
        choices=choices,
        initial=list(initial) or None,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=help_text,
    )


class DatasetExportForm(forms.Form):
    name = forms.SlugField(
        label=gettext_lazy("Name"),
        max_length=100,
        initial="ready4hire",
        help_text=gettext_lazy("Each export is the next version."),
    )
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=DatasetExport.Format.choices, initial="messages")
    prompt_variant = forms.TypedChoiceField(
        label=gettext_lazy("System prompt"),
        choices=PromptVariant.choices,
        initial=PromptVariant.FULL,
        required=False,
        empty_value=PromptVariant.FULL,  # a form posted without it (a script, an older page) keeps the full prompt
        help_text=gettext_lazy(
            "Compact: a few sentences instead of the rubric and schema in every row, for a grader fine-tuned on "
            "it; its model versions are then served the compact prompt."
        ),
    )
    train_share = forms.FloatField(
        label=gettext_lazy("Training share"), min_value=0.01, max_value=0.99, initial=0.8, help_text=SPLIT_HELP
    )
    seed = forms.IntegerField(
        label=gettext_lazy("Seed"),
        initial=42,
        help_text=gettext_lazy("The same rows, filters and seed give byte-identical files."),
    )
    balance_categories = forms.BooleanField(
        label=gettext_lazy("Balance categories"),
        required=False,
        help_text=gettext_lazy("Down-sample every category to the size of the smallest (seeded)."),
    )
    review_statuses = _ticked_filter(
        gettext_lazy("Review states"),
        TrainingExample.ReviewStatus.choices,
        DEFAULT_REVIEW_STATUSES,
        gettext_lazy("None ticked: every state."),
    )
    sources = _ticked_filter(
        gettext_lazy("Sources"),
        TrainingExample.Source.choices,
        DEFAULT_SOURCES,
        gettext_lazy("None ticked: every source."),
    )
    min_score = forms.FloatField(
        label=gettext_lazy("Minimum score"),
        required=False,
        min_value=0,
        max_value=10,
        help_text=gettext_lazy(MIN_SCORE_HELP),  # marked with gettext_noop where it is defined
    )
    categories = _ticked_filter(gettext_lazy("Categories"), Category.choices, (), NONE_TICKED_ALL)
    difficulties = _ticked_filter(gettext_lazy("Difficulties"), Difficulty.choices, (), NONE_TICKED_ALL)
    languages = _ticked_filter(gettext_lazy("Languages"), Language.choices, (), NONE_TICKED_ALL)

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
    actions = [cancel_action(lambda pk: dataset_export_cancel(export_id=pk))]
    # What fits at 1280 px; the filters, files and who asked are on the change page.
    list_display = ["__str__", "state", "examples", "warning_count", "requested", "created_at"]
    list_filter = ["status", "format", "prompt_variant", "scheduled", "balance_categories", "name"]
    search_fields = ["name", "error"]
    date_hierarchy = "created_at"
    fields = [
        "name",
        "version",
        "format",
        "state",
        "error",
        "warnings_list",
        "filters_text",
        "train_share",
        "seed",
        "balance_categories",
        "prompt_version",
        "prompt_variant",
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

    # --- deletion: through the service, which removes the files; its version number stays taken ----------

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Shown like protected rows: the confirmation page then refuses instead of failing on submit.
        running = (JobStatus.PENDING, JobStatus.RUNNING)
        busy = [
            _("%(export)s is %(status)s: cancel it first") % {"export": export, "status": export.status}
            for export in objs
            if export.status in running
        ]
        return deleted, counts, perms_needed, [*protected, *busy]

    def delete_model(self, request: HttpRequest, obj: DatasetExport) -> None:
        dataset_export_delete(export_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for export in queryset:
            dataset_export_delete(export_id=export.pk)

    # --- columns ----------------------------------------------------------------------------------------

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def state(self, obj: DatasetExport) -> str:
        return job_state(obj)

    @admin.display(description=gettext_lazy("Train / validation"))
    def examples(self, obj: DatasetExport) -> str:
        return f"{obj.train_count} / {obj.val_count}" if obj.status == JobStatus.DONE else "–"

    @admin.display(description=gettext_lazy("Warnings"))
    def warning_count(self, obj: DatasetExport) -> str:
        return format_html('<span class="r4h-state-failed">{}</span>', len(obj.warnings)) if obj.warnings else "–"

    @admin.display(description=gettext_lazy("Warnings"))
    def warnings_list(self, obj: DatasetExport) -> str:
        if not obj.warnings:
            return _("None.")
        items = format_html_join("", "<li>{}</li>", ((warning,) for warning in obj.warnings))
        return format_html('<ul class="r4h-warnings">{}</ul>', items)

    @admin.display(description=gettext_lazy("Requested by"))
    def requested(self, obj: DatasetExport) -> str:
        if obj.scheduled:
            return _("schedule")
        if obj.requested_by is not None:
            return obj.requested_by.get_username()
        if obj.requested_by_key is not None:
            return _("API key %(name)s") % {"name": obj.requested_by_key.name}
        return "-"

    @admin.display(description=gettext_lazy("Files"))
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

    @admin.display(description=gettext_lazy("Filters"))
    def filters_text(self, obj: DatasetExport) -> str:
        return ExportFilters.from_json(obj.filters).describe()

    @admin.display(description=gettext_lazy("Counts"))
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
            "<p>{}</p><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("%(matched)s matched, %(dropped)s dropped by balancing.")
            % {"matched": obj.counts.get("matched", 0), "dropped": obj.counts.get("dropped_by_balancing", 0)},
            _("by"),
            _("value"),
            _("train"),
            _("validation"),
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
            return self._not_found(request, _("Dataset export %(id)s does not exist.") % {"id": export_id})
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
        preview: list[list[tuple[str, str]]] = []
        if request.method == "POST" and form.is_valid():
            try:
                filters = form.export_filters()
                if "_preview" in request.POST:
                    records = dataset_preview(
                        fmt=form.cleaned_data["format"],
                        filters=filters,
                        limit=PREVIEW_EXAMPLES,
                        prompt_variant=form.cleaned_data["prompt_variant"],
                    )
                    preview = [preview_turns(record) for record in records]
                    if not preview:
                        form.add_error(
                            None, _("No examples match the filters (%(filters)s).") % {"filters": filters.describe()}
                        )
                else:
                    export = dataset_export_submit(
                        name=form.cleaned_data["name"],
                        fmt=form.cleaned_data["format"],
                        filters=filters,
                        train_share=form.cleaned_data["train_share"],
                        seed=form.cleaned_data["seed"],
                        balance_categories=form.cleaned_data["balance_categories"],
                        prompt_variant=form.cleaned_data["prompt_variant"],
                        requested_by=request.user,
                    )
                    started = _("Export %(export)s started: a worker is writing it.") % {"export": export}
                    self.message_user(request, started, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:training_datasetexport_change", args=[export.pk]))
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("New dataset export"),
            "form": form,
            "preview": preview,
            "preview_title": _("Preview: the first %(count)d examples, as the export writes them")
            % {"count": len(preview)},
        }
        return TemplateResponse(request, "admin/training/datasetexport/new_export.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        export = self.get_object(request, object_id)
        preview: list[list[tuple[str, str]]] = []
        if export is not None and export.status == JobStatus.DONE:
            try:
                with dataset_export_file_path(export=export, file="train").open(encoding="utf-8") as lines:
                    preview = [preview_turns(json.loads(line)) for line in islice(lines, PREVIEW_EXAMPLES)]
            except NotFound as exc:
                self.message_user(request, str(exc), messages.WARNING)
        title = _("The first %(count)d training examples, as the trainer reads them") % {"count": len(preview)}
        context = {**(extra_context or {}), "preview": preview, "preview_title": title}
        return super().change_view(request, object_id, form_url, context)
