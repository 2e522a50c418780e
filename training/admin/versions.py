"""Model versions in the admin: the list, and promote / retire actions that call the version services.

Versions are registered by fine-tune runs, never typed in: every field is read-only. Promotion changes which
model grades live traffic, so it always goes through a confirmation page (category, note); when the version
failed the promotion gate of its latest comparison, that page shows why and offers to force it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from ready4hire.errors import DomainError

from ..models import ModelVersion
from ..selectors.comparisons import comparison_gate_for_version
from ..services.versions import PromotionGateFailed, model_version_promote, model_version_retire


class PromoteForm(forms.Form):
    category = forms.ChoiceField(choices=ModelVersion.Category.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False, max_length=2000)
    force = forms.BooleanField(required=False, label="Promote although it failed the promotion gate")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "kind",
        "status",
        "category",
        "served_name",
        "gguf_path",
        "promoted_at",
        "promoted_by",
        "promotion_forced",
        "created_at",
    ]
    list_display_links = ["reference"]
    list_filter = ["status", "kind", "category", "promotion_forced"]
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
        "modelfile",
        "status",
        "category",
        "validation",
        "promoted_by",
        "promoted_at",
        "promotion_forced",
        "promotion_note",
        "retired_at",
        "created_at",
    ]

    @admin.display(description="Version", ordering="version")
    def reference(self, obj: ModelVersion) -> str:
        return obj.reference

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A version is part of the record of what graded whom: retire it instead.
        return False

    @admin.action(description="Promote the selected version (make it the active grader)", permissions=["change"])
    def promote_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.WARNING)
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
                forced = " although it failed the promotion gate (forced)" if promoted.promotion_forced else ""
                self.message_user(
                    request,
                    f"{promoted.reference} is now the active {promoted.category} grader{forced}.",
                    messages.WARNING if forced else messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Promote {version.reference}?",
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

    @admin.action(description="Retire the selected versions", permissions=["change"])
    def retire_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        retired: list[str] = []
        for version in queryset:
            if version.status == ModelVersion.Status.RETIRED:
                continue
            model_version_retire(version=version, user=request.user)
            retired.append(version.reference)
        if retired:
            self.message_user(request, format_html("Retired {}.", ", ".join(retired)), messages.SUCCESS)
        else:
            self.message_user(request, "The selected versions were already retired.", messages.INFO)
