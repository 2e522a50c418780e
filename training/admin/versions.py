"""Model versions in the admin: the list, and promote / retire actions that call the version services.

Versions are registered by fine-tune runs, or by the "register a model trained elsewhere" form (the add page);
every field is read-only. Promotion changes which
model grades live traffic, so it always goes through a confirmation page (category, note); when the version
failed the promotion gate of its latest comparison, that page shows why and offers to force it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from evaluation.choices import PromptVariant
from ready4hire.errors import DomainError

from ..models import DatasetExport, ModelVersion
from ..selectors.comparisons import comparison_gate_for_version
from ..services.versions import PromotionGateFailed, model_version_promote, model_version_retire
from ..services.versions_external import model_version_register_external


class CategoryFilter(admin.SimpleListFilter):
    """The category a version grades. Its "all" value reads "Every category (default)", so that the filter does not
    list both "All" (no filter) and "All categories" (the value)."""

    title = gettext_lazy("category graded")
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            (value, _("Every category (default grader)") if value == ModelVersion.Category.ALL else label)
            for value, label in ModelVersion.Category.choices
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
        return queryset.filter(category=self.value()) if self.value() else queryset


class PromoteForm(forms.Form):
    category = forms.ChoiceField(label=gettext_lazy("Category"), choices=ModelVersion.Category.choices)
    note = forms.CharField(
        label=gettext_lazy("Note"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        required=False,
        max_length=2000,
    )
    force = forms.BooleanField(required=False, label=gettext_lazy("Promote although it failed the promotion gate"))


class RegisterForm(forms.Form):
    name = forms.SlugField(label=gettext_lazy("Name"), max_length=100, initial="ready4hire")
    source = forms.CharField(
        label=gettext_lazy("From"),
        max_length=1000,
        help_text=gettext_lazy(
            "A GGUF file or a Hugging Face folder in the allowed model folders, or an Ollama model."
        ),
    )
    dataset = forms.ModelChoiceField(
        label=gettext_lazy("Dataset export it was trained on"), queryset=DatasetExport.objects.all()
    )
    category = forms.ChoiceField(label=gettext_lazy("Category"), choices=ModelVersion.Category.choices)
    prompt_variant = forms.ChoiceField(
        label=gettext_lazy("System prompt"),
        choices=[("", gettext_lazy("The dataset export's")), *PromptVariant.choices],
        required=False,
        help_text=gettext_lazy("The system prompt it was trained with; grading and comparisons send it that one."),
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    # What fits at 1280 px; the GGUF path, who promoted it and how are on the change page.
    list_display = ["reference", "kind", "status", "category", "served_name", "promoted_at", "created_at"]
    list_display_links = ["reference"]
    list_filter = ["status", "kind", CategoryFilter, "prompt_variant", "promotion_forced"]
    search_fields = ["name", "served_name", "base_model", "gguf_path"]
    list_select_related = ["promoted_by"]
    ordering = ["name", "-version"]
    actions = ["promote_selected", "retire_selected"]
    readonly_fields = [
        "name",
        "version",
        "kind",
        "base_model",
        "run",
        "dataset_export",
        "served_name",
        "gguf_path",
        "origin",
        "prompt_variant",
        "modelfile",
        "status",
        "category",
        "validation",
        "promoted_by",
        "promoted_at",
        "promotion",
        "retired_at",
        "created_at",
    ]

    def get_fields(self, request: HttpRequest, obj: ModelVersion | None = None) -> list[str]:
        # Promotion details only for a version that was promoted: "Promotion forced: no" on a version that was
        # never promoted read as if something had been forced.
        fields = list(self.readonly_fields)
        if obj is None or obj.promoted_at is None:
            fields = [name for name in fields if name not in ("promoted_by", "promoted_at", "promotion")]
        return fields

    @admin.display(description=gettext_lazy("Promotion"))
    def promotion(self, obj: ModelVersion) -> str:
        if obj.promoted_at is None:
            return _("Never promoted.")
        how = (
            format_html(
                _("{forced} although it failed the promotion gate"),
                forced=format_html('<strong class="r4h-state-failed">{}</strong>', _("Forced")),
            )
            if obj.promotion_forced
            else _("Passed the promotion gate, or had no comparison to pass")
        )
        note = format_html("<br>{}", _("Note: %(note)s") % {"note": obj.promotion_note}) if obj.promotion_note else ""
        return format_html("{}.{}", how, note)

    @admin.display(description=gettext_lazy("Version"), ordering="version")
    def reference(self, obj: ModelVersion) -> str:
        return obj.reference

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """Register a model trained elsewhere (the service checks and converts; nothing is stored on an error)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RegisterForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                version = model_version_register_external(
                    name=data["name"],
                    source=data["source"],
                    dataset_export_id=data["dataset"].pk,
                    category=data["category"],
                    prompt_variant=data["prompt_variant"] or None,
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                self.message_user(request, _("Registered %(version)s.") % {"version": version.reference})
                return HttpResponseRedirect(reverse("admin:training_modelversion_change", args=[version.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Register a model trained elsewhere"),
            "form": form,
        }
        return TemplateResponse(request, "admin/training/modelversion/register.html", context)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A version is part of the record of what graded whom: retire it instead.
        return False

    @admin.action(
        description=gettext_lazy("Promote the selected version (make it the active grader)"), permissions=["change"]
    )
    def promote_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to promote."), messages.WARNING)
            return None
        version = queryset.get()
        judged = comparison_gate_for_version(version_id=version.pk)
        failed = judged is not None and not judged[1].get("passed")
        form = PromoteForm(request.POST if "confirm" in request.POST else None, initial={"category": version.category})
        if form.is_valid():
            try:
                promoted = model_version_promote(
                    version=version,
                    user=request.user,
                    category=form.cleaned_data["category"],
                    force=form.cleaned_data["force"],
                    note=form.cleaned_data["note"],
                )
            except PromotionGateFailed as exc:
                form.add_error("force", str(exc))
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            else:
                forced = promoted.promotion_forced
                promotion = (
                    _(
                        "%(version)s is now the active %(category)s grader although it failed the promotion gate "
                        "(forced)."
                    )
                    if forced
                    else _("%(version)s is now the active %(category)s grader.")
                )
                self.message_user(
                    request,
                    promotion % {"version": promoted.reference, "category": promoted.category},
                    messages.WARNING if forced else messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Promote %(version)s?") % {"version": version.reference},
            "version": version,
            "form": form,
            "gate_failed": failed,
            "comparison": judged[0] if judged else None,
            "comparison_url": reverse("admin:training_comparisonrun_change", args=[judged[0].pk]) if judged else "",
            "reasons": judged[1].get("reasons", []) if judged else [],
            "active": ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).order_by("category"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/training/modelversion/promote_confirmation.html", context)

    @admin.action(description=gettext_lazy("Retire the selected versions"), permissions=["change"])
    def retire_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        retired: list[str] = []
        for version in queryset:
            if version.status == ModelVersion.Status.RETIRED:
                continue
            model_version_retire(version=version, user=request.user)
            retired.append(version.reference)
        if retired:
            self.message_user(
                request, format_html(_("Retired {versions}."), versions=", ".join(retired)), messages.SUCCESS
            )
        else:
            self.message_user(request, _("The selected versions were already retired."), messages.INFO)
