"""Modelfiles in the admin: build one from a form, read and download it, push and validate it (Celery), and
manage the models on the configured Ollama server (list, show, delete behind a confirmation page)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ready4hire.errors import DomainError

from ..modelfile import PARAMETER_TYPES
from ..models import DatasetExport, JobStatus, Modelfile
from ..services.modelfile_jobs import modelfile_push_queue, modelfile_validate_queue
from ..services.modelfiles import MAX_FEW_SHOT, default_parameters, modelfile_build, parameter_assignments_parse
from ..services.ollama_models import ollama_model_delete, ollama_model_list, ollama_model_show


def _parameter_text(parameters: dict) -> str:
    return "\n".join(
        f"{name}={value}"
        for name, given in parameters.items()
        for value in (given if isinstance(given, list) else [given])
    )


class ModelfileBuildForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="The model's name on the Ollama server, e.g. ready4hire:v1.")
    base = forms.CharField(
        label="FROM", max_length=500, help_text="An Ollama model name, a GGUF file or a safetensors directory."
    )
    adapter = forms.CharField(
        label="ADAPTER", max_length=500, required=False, help_text="Optional LoRA adapter: GGUF file or directory."
    )
    language = forms.ChoiceField(choices=[("es", "Spanish"), ("en", "English")], initial="es")
    dataset_export = forms.ModelChoiceField(
        queryset=DatasetExport.objects.filter(status=JobStatus.DONE).order_by("-created_at", "-id"),
        required=False,
        help_text="Few-shot MESSAGE pairs are drawn from its train file.",
    )
    few_shot = forms.IntegerField(
        min_value=0, max_value=MAX_FEW_SHOT, required=False, help_text="Pairs to draw (3 by default with an export)."
    )
    parameters = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40}),
        required=False,
        help_text=f"One name=value per line (stop may repeat): {', '.join(PARAMETER_TYPES)}.",
    )
    system = forms.CharField(
        label="SYSTEM",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Empty: the grading instructions and schema of the current prompt version.",
    )
    template = forms.CharField(label="TEMPLATE", widget=forms.Textarea(attrs={"rows": 3}), required=False)
    license = forms.CharField(label="LICENSE", widget=forms.Textarea(attrs={"rows": 3}), required=False)
    push = forms.BooleanField(required=False, help_text="Push it to the configured Ollama server.")
    validate = forms.BooleanField(required=False, help_text="Then grade the probe set with it.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["base"].initial = settings.LLM_MODEL
        self.fields["parameters"].initial = _parameter_text(default_parameters())

    def parameter_overrides(self) -> dict:
        """The text is the whole parameter set: a default left out of it is removed, not kept."""
        given = parameter_assignments_parse(self.cleaned_data["parameters"].splitlines())
        return {**dict.fromkeys(default_parameters()), **given}


@admin.register(Modelfile)
class ModelfileAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "base",
        "language",
        "few_shot",
        "push_status",
        "validation_status",
        "status",
        "created_at",
    ]
    list_display_links = ["id", "name"]
    list_filter = ["push_status", "validation_status", "status", "language"]
    search_fields = ["name", "base", "adapter"]
    date_hierarchy = "created_at"
    actions = ["push_selected", "push_and_validate_selected", "validate_selected"]
    fieldsets = [
        (None, {"fields": ["name", "base", "adapter", "language", "prompt_version", "export_link", "few_shot"]}),
        ("Modelfile", {"fields": ["parameters_text", "content_block"]}),
        (
            "Push and validation",
            {"fields": ["job", "push_status", "pushed_at", "validation_status", "validation_table"]},
        ),
        ("Record", {"fields": ["requested", "created_at"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "name",
        "base",
        "adapter",
        "language",
        "prompt_version",
        "export_link",
        "few_shot",
        "parameters_text",
        "content_block",
        "job",
        "push_status",
        "pushed_at",
        "validation_status",
        "validation_table",
        "requested",
        "created_at",
    ]
    change_list_template = "admin/training/modelfile/change_list.html"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("dataset_export", "requested_by", "requested_by_key")

    # --- the change page: read-only ------------------------------------------------------------------

    @admin.display(description="Few-shot source")
    def export_link(self, obj: Modelfile) -> str:
        if obj.dataset_export_id is None:
            return "-"
        url = reverse("admin:training_datasetexport_change", args=[obj.dataset_export_id])
        return format_html('<a href="{}">{}</a>', url, obj.dataset_export)

    @admin.display(description="Parameters")
    def parameters_text(self, obj: Modelfile) -> str:
        return _parameter_text(obj.parameters) or "-"

    @admin.display(description="Rendered Modelfile")
    def content_block(self, obj: Modelfile) -> str:
        url = reverse("admin:training_modelfile_download", args=[obj.pk])
        return format_html(
            '<p><a class="button" href="{}">Download</a></p><pre class="r4h-modelfile">{}</pre>', url, obj.content
        )

    @admin.display(description="Job")
    def job(self, obj: Modelfile) -> str:
        error = format_html('<pre class="r4h-error">{}</pre>', obj.error) if obj.error else ""
        return format_html(
            '{} <progress max="100" value="{}"></progress> {}%{}',
            obj.get_status_display(),
            obj.progress,
            obj.progress,
            error,
        )

    @admin.display(description="Validation")
    def validation_table(self, obj: Modelfile) -> str:
        report = obj.validation
        if not report:
            return "Not run."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r["probe"],
                    "yes" if r["valid_json"] else "no",
                    "yes" if r["schema_valid"] else "no",
                    "-" if r["score"] is None else r["score"],
                    r["error"] or "",
                )
                for r in report.get("results", [])
            ),
        )
        return format_html(
            "<p>Model {} on {}: <strong>{}</strong>. Valid JSON {} of {} ({}%, minimum {}%); schema-valid {} of {} "
            "({}%, minimum {}%). {}</p>"
            "<table><thead><tr><th>probe</th><th>JSON</th><th>schema</th><th>score</th><th>error</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            report["model"],
            report["server"],
            "present" if report["model_present"] else "missing",
            report["valid_json"],
            report["probes"],
            round(100 * report["valid_json_rate"], 1),
            round(100 * report["min_valid_json"]),
            report["schema_valid"],
            report["probes"],
            round(100 * report["schema_valid_rate"], 1),
            round(100 * report["min_schema_valid"]),
            "Passed." if report["passed"] else "Failed.",
            rows,
        )

    @admin.display(description="Requested by")
    def requested(self, obj: Modelfile) -> str:
        if obj.requested_by is not None:
            return obj.requested_by.get_username()
        if obj.requested_by_key is not None:
            return f"API key {obj.requested_by_key.name}"
        return "-"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        # Every field is the record of a build: the page shows it, and the actions push and validate it.
        no_saving = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **no_saving})

    # --- building -------------------------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ModelfileBuildForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                modelfile = modelfile_build(
                    name=data["name"],
                    base=data["base"],
                    adapter=data["adapter"],
                    parameters=form.parameter_overrides(),
                    system=data["system"],
                    template=data["template"],
                    license=data["license"],
                    language=data["language"],
                    dataset_export_id=data["dataset_export"].pk if data["dataset_export"] else None,
                    few_shot=data["few_shot"],
                    push=data["push"],
                    validate=data["validate"],
                    requested_by=request.user,
                )
            except DomainError as exc:
                field = (exc.field or "").split(".")[0].replace("dataset_export_id", "dataset_export")
                form.add_error(field if field in form.fields else None, str(exc))
            else:
                queued = " and ".join(step for step in ("push", "validate") if data[step])
                self.message_user(
                    request,
                    f"Built Modelfile #{modelfile.pk} for {modelfile.name}."
                    + (f" Queued: {queued}." if queued else ""),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:training_modelfile_change", args=[modelfile.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Build a Modelfile",
            "form": form,
        }
        return TemplateResponse(request, "admin/training/modelfile/build.html", context)

    # --- actions --------------------------------------------------------------------------------------

    def _queue_each(self, request: HttpRequest, queryset: QuerySet[Modelfile], queue, *, what: str) -> None:
        queued: list[str] = []
        for modelfile in queryset.order_by("pk"):
            try:
                queue(modelfile_id=modelfile.pk)
                queued.append(modelfile.name)
            except DomainError as exc:
                self.message_user(request, f"{modelfile.name}: {exc}", messages.ERROR)
        if queued:
            self.message_user(request, f"Queued {what} of {', '.join(queued)}.", messages.SUCCESS)

    @admin.action(description="Push to the Ollama server", permissions=["change"])
    def push_selected(self, request: HttpRequest, queryset: QuerySet[Modelfile]) -> None:
        self._queue_each(request, queryset, modelfile_push_queue, what="the push")

    @admin.action(description="Push, then validate", permissions=["change"])
    def push_and_validate_selected(self, request: HttpRequest, queryset: QuerySet[Modelfile]) -> None:
        def queue(*, modelfile_id: int) -> None:
            modelfile_push_queue(modelfile_id=modelfile_id, then_validate=True)

        self._queue_each(request, queryset, queue, what="the push and validation")

    @admin.action(description="Validate on the probe set", permissions=["change"])
    def validate_selected(self, request: HttpRequest, queryset: QuerySet[Modelfile]) -> None:
        self._queue_each(request, queryset, modelfile_validate_queue, what="the validation")

    # --- pages: download and the Ollama server's models ---------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:modelfile_id>/download/", view(self.download_view), name="training_modelfile_download"),
            path("ollama-models/", view(self.ollama_models_view), name="training_modelfile_ollama_models"),
            path("ollama-models/show/<path:name>", view(self.ollama_model_view), name="training_modelfile_ollama_show"),
            path(
                "ollama-models/delete/<path:name>",
                view(self.ollama_model_delete_view),
                name="training_modelfile_ollama_delete",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, modelfile_id: int) -> HttpResponse:
        modelfile = self.get_object(request, str(modelfile_id))
        if modelfile is None or not self.has_view_permission(request, modelfile):
            raise PermissionDenied
        response = HttpResponse(modelfile.content, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="Modelfile"'
        return response

    def _page(self, request: HttpRequest, template: str, title: str, **context) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "server": settings.OLLAMA_ADMIN_URL,
            **context,
        }
        return TemplateResponse(request, f"admin/training/modelfile/{template}", context)

    def ollama_models_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            models = ollama_model_list()
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            models = []
        rows = [
            {
                "name": model.name,
                "size": filesizeformat(model.size),
                "parameter_size": model.details.get("parameter_size", ""),
                "quantization": model.details.get("quantization_level", ""),
                "modified_at": model.modified_at[:19].replace("T", " "),
            }
            for model in models
        ]
        return self._page(
            request,
            "ollama_models.html",
            "Models on the Ollama server",
            models=rows,
            can_delete=self.has_delete_permission(request),
        )

    def ollama_model_view(self, request: HttpRequest, name: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            info = ollama_model_show(name=name)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:training_modelfile_ollama_models"))
        return self._page(
            request,
            "ollama_model.html",
            f"Model {name}",
            name=name,
            info=info,
            details=info.get("details") or {},
            can_delete=self.has_delete_permission(request),
        )

    def ollama_model_delete_view(self, request: HttpRequest, name: str) -> HttpResponse:
        """A confirmation page first; the model is deleted only on its POST."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            try:
                unpushed = ollama_model_delete(name=name)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                message = f"Deleted {name} from the Ollama server."
                if unpushed:
                    message += f" {unpushed} Modelfile{'s' if unpushed != 1 else ''} marked not pushed."
                self.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:training_modelfile_ollama_models"))
        return self._page(request, "ollama_model_delete.html", f"Delete {name}?", name=name)
