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
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ready4hire.errors import DomainError

from ..modelfile import PARAMETER_TYPES
from ..models import DatasetExport, JobStatus, Modelfile
from ..services.modelfile_jobs import modelfile_push_queue, modelfile_validate_queue
from ..services.modelfiles import MAX_FEW_SHOT, default_parameters, modelfile_build, parameter_assignments_parse
from ..services.ollama_models import ollama_model_delete, ollama_model_list, ollama_model_show
from .display import RUNNING, job_state, live


def _parameter_text(parameters: dict) -> str:
    return "\n".join(
        f"{name}={value}"
        for name, given in parameters.items()
        for value in (given if isinstance(given, list) else [given])
    )


class ModelfileBuildForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=200,
        help_text=gettext_lazy("The model's name on the Ollama server, e.g. ready4hire:v1."),
    )
    base = forms.CharField(
        label="FROM",
        max_length=500,
        help_text=gettext_lazy("An Ollama model name, a GGUF file or a safetensors directory."),
    )
    adapter = forms.CharField(
        label="ADAPTER",
        max_length=500,
        required=False,
        help_text=gettext_lazy("Optional LoRA adapter: GGUF file or directory."),
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=[("es", gettext_lazy("Spanish")), ("en", gettext_lazy("English"))],
        initial="es",
    )
    dataset_export = forms.ModelChoiceField(
        label=gettext_lazy("Dataset export"),
        queryset=DatasetExport.objects.filter(status=JobStatus.DONE).order_by("-created_at", "-id"),
        required=False,
        help_text=gettext_lazy("Few-shot MESSAGE pairs are drawn from its train file."),
    )
    few_shot = forms.IntegerField(
        label=gettext_lazy("Few shot"),
        min_value=0,
        max_value=MAX_FEW_SHOT,
        required=False,
        help_text=gettext_lazy("Pairs to draw (3 by default with an export)."),
    )
    parameters = forms.CharField(
        label=gettext_lazy("Parameters"),
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40}),
        required=False,
        help_text=format_lazy(
            gettext_lazy("One name=value per line (stop may repeat): {names}."), names=", ".join(PARAMETER_TYPES)
        ),
    )
    system = forms.CharField(
        label="SYSTEM",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=gettext_lazy("Empty: the grading instructions and schema of the current prompt version."),
    )
    template = forms.CharField(label="TEMPLATE", widget=forms.Textarea(attrs={"rows": 3}), required=False)
    license = forms.CharField(label="LICENSE", widget=forms.Textarea(attrs={"rows": 3}), required=False)
    push = forms.BooleanField(
        label=gettext_lazy("Push"), required=False, help_text=gettext_lazy("Push it to the configured Ollama server.")
    )
    validate = forms.BooleanField(
        label=gettext_lazy("Validate"), required=False, help_text=gettext_lazy("Then grade the probe set with it.")
    )

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
    # What fits at 1280 px: a GGUF base shows as its file name; language, few-shot pairs and the full path are
    # on the change page.
    list_display = ["id", "name", "base_shown", "push_status", "validation_status", "state", "created_at"]
    list_display_links = ["id", "name"]
    list_filter = ["push_status", "validation_status", "status", "language"]
    search_fields = ["name", "base", "adapter"]
    date_hierarchy = "created_at"
    actions = ["push_selected", "push_and_validate_selected", "validate_selected"]
    fieldsets = [
        (None, {"fields": ["name", "base", "adapter", "language", "prompt_version", "export_link", "few_shot"]}),
        (gettext_lazy("Modelfile"), {"fields": ["parameters_text", "content_block"]}),
        (
            gettext_lazy("Push and validation"),
            {"fields": ["job", "push_status", "pushed_at", "validation_status", "validation_table"]},
        ),
        (gettext_lazy("Record"), {"fields": ["requested", "created_at"], "classes": ["collapse"]}),
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

    @admin.display(description=gettext_lazy("FROM"), ordering="base")
    def base_shown(self, obj: Modelfile) -> str:
        name = obj.base.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        return format_html('<span title="{}">{}</span>', obj.base, name) if name != obj.base else obj.base

    @admin.display(description=gettext_lazy("Job"), ordering="status")
    def state(self, obj: Modelfile) -> str:
        return job_state(obj)

    @admin.display(description=gettext_lazy("Few-shot source"))
    def export_link(self, obj: Modelfile) -> str:
        if obj.dataset_export_id is None:
            return "-"
        url = reverse("admin:training_datasetexport_change", args=[obj.dataset_export_id])
        return format_html('<a href="{}">{}</a>', url, obj.dataset_export)

    @admin.display(description=gettext_lazy("Parameters"))
    def parameters_text(self, obj: Modelfile) -> str:
        return _parameter_text(obj.parameters) or "-"

    @admin.display(description=gettext_lazy("Rendered Modelfile"))
    def content_block(self, obj: Modelfile) -> str:
        url = reverse("admin:training_modelfile_download", args=[obj.pk])
        return format_html(
            '<p><a class="button" href="{}">{}</a></p><pre class="r4h-modelfile">{}</pre>',
            url,
            _("Download"),
            obj.content,
        )

    @admin.display(description=gettext_lazy("Job"))
    def job(self, obj: Modelfile) -> str:
        error = format_html('<pre class="r4h-error">{}</pre>', obj.error) if obj.error else ""
        return live(obj, "job", format_html("{}{}", job_state(obj), error), running=obj.status in RUNNING)

    @admin.display(description=gettext_lazy("Validation"))
    def validation_table(self, obj: Modelfile) -> str:
        report = obj.validation
        if not report:
            return _("Not run.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r["probe"],
                    _("yes") if r["valid_json"] else _("no"),
                    _("yes") if r["schema_valid"] else _("no"),
                    "-" if r["score"] is None else r["score"],
                    r["error"] or "",
                )
                for r in report.get("results", [])
            ),
        )
        summary = format_html(
            _(
                "Model {model} on {server}: <strong>{presence}</strong>. Valid JSON {valid} of {probes} "
                "({valid_rate}%, minimum {valid_min}%); schema-valid {schema} of {probes} ({schema_rate}%, "
                "minimum {schema_min}%). {verdict}"
            ),
            model=report["model"],
            server=report["server"],
            presence=_("present") if report["model_present"] else _("missing"),
            valid=report["valid_json"],
            probes=report["probes"],
            valid_rate=round(100 * report["valid_json_rate"], 1),
            valid_min=round(100 * report["min_valid_json"]),
            schema=report["schema_valid"],
            schema_rate=round(100 * report["schema_valid_rate"], 1),
            schema_min=round(100 * report["min_schema_valid"]),
            verdict=_("Passed.") if report["passed"] else _("Failed."),
        )
        head = format_html_join(
            "", "<th>{}</th>", ((title,) for title in (_("probe"), "JSON", _("schema"), _("score"), _("error")))
        )
        return format_html("<p>{}</p><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", summary, head, rows)

    @admin.display(description=gettext_lazy("Requested by"))
    def requested(self, obj: Modelfile) -> str:
        if obj.requested_by is not None:
            return obj.requested_by.get_username()
        if obj.requested_by_key is not None:
            return _("API key %(name)s") % {"name": obj.requested_by_key.name}
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
                queued = {
                    (True, True): _("Queued: push and validate."),
                    (True, False): _("Queued: push."),
                    (False, True): _("Queued: validate."),
                }.get((bool(data["push"]), bool(data["validate"])))
                built = _("Built Modelfile #%(number)d for %(name)s.") % {
                    "number": modelfile.pk,
                    "name": modelfile.name,
                }
                self.message_user(request, f"{built} {queued}" if queued else built, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:training_modelfile_change", args=[modelfile.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Build a Modelfile"),
            "form": form,
        }
        return TemplateResponse(request, "admin/training/modelfile/build.html", context)

    # --- actions --------------------------------------------------------------------------------------

    def _queue_each(self, request: HttpRequest, queryset: QuerySet[Modelfile], queue, *, done: str) -> None:
        """`done` says what was queued, with a %(models)s placeholder for their names."""
        queued: list[str] = []
        for modelfile in queryset.order_by("pk"):
            try:
                queue(modelfile_id=modelfile.pk)
                queued.append(modelfile.name)
            except DomainError as exc:
                self.message_user(request, f"{modelfile.name}: {exc}", messages.ERROR)
        if queued:
            self.message_user(request, done % {"models": ", ".join(queued)}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Push to the Ollama server"), permissions=["change"])
    def push_selected(self, request: HttpRequest, queryset: QuerySet[Modelfile]) -> None:
        self._queue_each(request, queryset, modelfile_push_queue, done=_("Queued the push of %(models)s."))

    @admin.action(description=gettext_lazy("Push, then validate"), permissions=["change"])
    def push_and_validate_selected(self, request: HttpRequest, queryset: QuerySet[Modelfile]) -> None:
        def queue(*, modelfile_id: int) -> None:
            modelfile_push_queue(modelfile_id=modelfile_id, then_validate=True)

        self._queue_each(request, queryset, queue, done=_("Queued the push and validation of %(models)s."))

    @admin.action(description=gettext_lazy("Validate on the probe set"), permissions=["change"])
    def validate_selected(self, request: HttpRequest, queryset: QuerySet[Modelfile]) -> None:
        self._queue_each(request, queryset, modelfile_validate_queue, done=_("Queued the validation of %(models)s."))

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
            _("Models on the Ollama server"),
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
            _("Model %(name)s") % {"name": name},
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
                message = _("Deleted %(name)s from the Ollama server.") % {"name": name}
                if unpushed:
                    marked = ngettext(
                        "%(count)d Modelfile marked not pushed.", "%(count)d Modelfiles marked not pushed.", unpushed
                    )
                    message += " " + marked % {"count": unpushed}
                self.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:training_modelfile_ollama_models"))
        return self._page(request, "ollama_model_delete.html", _("Delete %(name)s?") % {"name": name}, name=name)
