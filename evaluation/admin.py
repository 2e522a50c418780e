"""The grading app's admin: the question catalogue, evaluations (read-only) and API keys (scopes, owner)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .llm.schema import BREAKDOWN_MAXIMA
from .models import ApiKey, Evaluation, Question

# The change page of an evaluation, grouped; a field not named here lands in "Record", so a new one still shows.
EVALUATION_FIELDSETS = [
    (
        gettext_lazy("Request"),
        ["question", "question_text", "answer", "category", "difficulty", "language", "role", "expected_concepts",
         "keywords"],
    ),
    (gettext_lazy("Grade"), ["status", "grade", "source", "model", "prompt_version", "from_cache", "latency_ms",
                             "error"]),
    (gettext_lazy("Record"), ["raw_output", "requested_model", "temperature", "cache_key", "attempts", "created_at",
                              "started_at", "finished_at"]),
]  # fmt: skip
GRADE_LISTS = [
    ("strengths", gettext_lazy("Strengths")),
    ("improvements", gettext_lazy("Improvements")),
    ("concepts_covered", gettext_lazy("Concepts covered")),
    ("missing_concepts", gettext_lazy("Missing concepts")),
]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["key", "short_text", "language", "category", "difficulty", "role"]
    list_filter = ["language", "category", "difficulty", "role"]
    search_fields = ["key", "text", "role"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description=gettext_lazy("Question"))
    def short_text(self, obj: Question) -> str:
        return obj.text[:90]


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    # What fits at 1280 px; cache use and latency are filters and on the change page.
    list_display = ["id", "created_at", "short_question", "score", "source", "model", "status"]
    list_filter = ["status", "source", "from_cache", "category", "difficulty", "language", "model"]
    search_fields = ["question_text", "answer", "role"]
    date_hierarchy = "created_at"
    list_select_related = ["question"]
    readonly_fields = [
        "grade",
        *(field.name for field in Evaluation._meta.get_fields() if field.concrete and field.name != "id"),
    ]

    def has_add_permission(self, request) -> bool:
        # Evaluations are made by the grader (API, command, task), never typed in by hand.
        return False

    def get_fieldsets(self, request, obj=None):
        named = {name for _, names in EVALUATION_FIELDSETS for name in names}
        rest = [name for name in self.readonly_fields if name not in named and name != "result"]
        fieldsets = [(title, {"fields": names}) for title, names in EVALUATION_FIELDSETS]
        fieldsets[-1][1]["fields"] = [*fieldsets[-1][1]["fields"], *rest]
        fieldsets[-1][1]["classes"] = ["collapse"]
        return fieldsets

    @admin.display(description=gettext_lazy("Question"))
    def short_question(self, obj: Evaluation) -> str:
        return obj.question_text[:60]

    @admin.display(description=gettext_lazy("Grade"))
    def grade(self, obj: Evaluation) -> str:
        """The stored result as a table: the score and its breakdown against the maxima, then the texts."""
        result = obj.result or {}
        if not result:
            return "–"
        breakdown = result.get("breakdown") or {}
        parts = ", ".join(
            f"{name.replace('_', ' ')} {breakdown.get(name, '–')} / {top:g}" for name, top in BREAKDOWN_MAXIMA.items()
        )
        rows = [
            (_("Score"), format_html("<strong>{}</strong> / 10", result.get("score"))),
            (_("Breakdown"), parts),
            (_("Justification"), result.get("justification") or "–"),
        ]
        for key, label in GRADE_LISTS:
            items = format_html_join("", "<li>{}</li>", ((item,) for item in result.get(key) or []))
            rows.append((label, format_html('<ul class="r4h-list">{}</ul>', items) if items else "–"))
        body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        return format_html('<table class="r4h-table">{}</table>', body)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy(
            "What the key may do; admin includes every other scope. None ticked: the key is refused everywhere."
        ),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "user", "is_active", "rate_limit"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "key_prefix", "scope_list", "user", "is_active", "rate_limit", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix", "user__username"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    readonly_fields = ["key_prefix", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        # A key must be shown once to its owner: `manage.py create_api_key NAME` does that.
        return False

    @admin.display(description=gettext_lazy("Scopes"))
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes) or "—"
