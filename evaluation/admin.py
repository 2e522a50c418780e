from __future__ import annotations

from django.contrib import admin

from .models import ApiKey, Evaluation, Question


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["key", "short_text", "language", "category", "difficulty", "role"]
    list_filter = ["language", "category", "difficulty", "role"]
    search_fields = ["key", "text", "role"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="Question")
    def short_text(self, obj: Question) -> str:
        return obj.text[:90]


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "short_question",
        "score",
        "source",
        "model",
        "status",
        "from_cache",
        "latency_ms",
    ]
    list_filter = ["status", "source", "from_cache", "category", "difficulty", "language", "model"]
    search_fields = ["question_text", "answer", "role"]
    date_hierarchy = "created_at"
    list_select_related = ["question"]
    readonly_fields = [field.name for field in Evaluation._meta.get_fields() if field.concrete and field.name != "id"]

    def has_add_permission(self, request) -> bool:
        # Evaluations are made by the grader (API, command, task), never typed in by hand.
        return False

    @admin.display(description="Question")
    def short_question(self, obj: Evaluation) -> str:
        return obj.question_text[:70]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "is_active", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        # A key must be shown once to its owner: `manage.py create_api_key NAME` does that.
        return False
