"""The reviewers' admin: the review queue, bulk actions, the correction page and the statistics page."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from evaluation.llm.schema import BREAKDOWN_MAXIMA
from ready4hire.errors import DomainError, InvalidInput

from ..forms import BREAKDOWN_LABELS, ExampleReviewForm
from ..models import CollectionSettings, TrainingExample
from ..selectors import SCORE_BUCKETS, collection_settings_get, example_next_in_queue, score_bucket_q, training_stats
from ..services import (
    collection_settings_update,
    example_approve,
    example_correct,
    example_reject,
    example_reopen,
)

Status = TrainingExample.ReviewStatus

# The change page's buttons and the review action each one asks for.
REVIEW_BUTTONS = {"_approve_next": "approve", "_reject_next": "reject", "_reopen": "reopen", "_correct": "correct"}


def _examples(count: int) -> str:
    return f"{count} example{'' if count == 1 else 's'}"


class ReviewStatusFilter(admin.SimpleListFilter):
    """The changelist opens on the review queue (pending examples); 'All' shows everything."""

    title = "review status"
    parameter_name = "review_status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*Status.choices, (self.ALL, "All")]

    def selected(self) -> str:
        return self.value() or Status.PENDING

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.selected() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.selected() == self.ALL:
            return queryset
        if self.selected() not in Status.values:
            raise IncorrectLookupParameters(f"Unknown review status {self.selected()!r}.")
        return queryset.filter(review_status=self.selected())


class ScoreRangeFilter(admin.SimpleListFilter):
    title = "score range"
    parameter_name = "score_range"

    def lookups(self, request, model_admin):
        return [(name, name) for name, _, _ in SCORE_BUCKETS]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(score_bucket_q(self.value()))
        except InvalidInput as exc:
            raise IncorrectLookupParameters(exc) from None


def _grade_html(label: dict | None) -> str:
    if not label:
        return "—"
    breakdown = label.get("breakdown") or {}
    parts = format_html_join(
        "",
        "<tr><th>{}</th><td>{} / {}</td></tr>",
        ((BREAKDOWN_LABELS[name], breakdown.get(name, "—"), f"{top:g}") for name, top in BREAKDOWN_MAXIMA.items()),
    )
    lists = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td></tr>",
        (
            (title, " · ".join(label.get(key) or []) or "—")
            for key, title in (
                ("strengths", "Strengths"),
                ("improvements", "Improvements"),
                ("concepts_covered", "Concepts covered"),
                ("missing_concepts", "Missing concepts"),
            )
        ),
    )
    return format_html(
        '<table class="r4h-grade"><tr><th>Score</th><td><strong>{} / 10</strong></td></tr>{}'
        "<tr><th>Justification</th><td>{}</td></tr>{}</table>",
        label.get("score"),
        parts,
        label.get("justification") or "—",
        lists,
    )


@admin.register(TrainingExample)
class TrainingExampleAdmin(admin.ModelAdmin):
    form = ExampleReviewForm
    list_display = [
        "id",
        "short_question",
        "short_answer",
        "score",
        "source",
        "category",
        "difficulty",
        "role",
        "review_status",
    ]
    list_display_links = ["id", "short_question"]
    list_filter = [ReviewStatusFilter, "source", "category", "difficulty", "role", "language", ScoreRangeFilter]
    search_fields = ["question", "answer"]
    list_select_related = ["reviewed_by", "reviewed_by_key"]
    list_per_page = 50
    ordering = ["-created_at", "-id"]
    actions = ["approve_selected", "reject_selected", "reopen_selected"]
    readonly_fields = [
        "question_text",
        "answer_text",
        "expected_concepts_list",
        "keywords_list",
        "category",
        "difficulty",
        "language",
        "role",
        "machine_grade",
        "human_label",
        "source",
        "model",
        "prompt_version",
        "evaluation_link",
        "created_at",
        "content_hash",
        "review_status",
        "reviewer",
        "reviewed_at",
        "review_note",
    ]

    # --- the review queue -------------------------------------------------------------------------------

    @admin.display(description="Question")
    def short_question(self, obj: TrainingExample) -> str:
        return Truncator(" ".join(obj.question.split())).chars(70)

    @admin.display(description="Answer")
    def short_answer(self, obj: TrainingExample) -> str:
        return Truncator(" ".join(obj.answer.split())).chars(100)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Examples come from grading (collection) or from `import_examples`, never typed in by hand.
        return False

    def _review_many(
        self,
        request: HttpRequest,
        queryset: QuerySet[TrainingExample],
        service: Callable[..., TrainingExample],
        *,
        verb: str,
        already: str,
    ) -> None:
        """Run one service per selected example, so every rule and log entry applies to each of them."""
        done = skipped = 0
        failures: list[str] = []
        for example_id, status in queryset.order_by().values_list("pk", "review_status"):
            if status == already:
                skipped += 1
                continue
            try:
                service(example_id=example_id, reviewer=request.user)
                done += 1
            except DomainError as exc:
                failures.append(str(exc))
        message = f"{_examples(done)} {verb}."
        if skipped:
            message += f" {_examples(skipped)} {'was' if skipped == 1 else 'were'} already {already}."
        self.message_user(request, message, messages.SUCCESS if done or not failures else messages.WARNING)
        if failures:
            self.message_user(request, f"{_examples(len(failures))} not {verb}: {failures[0]}", messages.ERROR)

    @admin.action(description="Approve selected examples", permissions=["change"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[TrainingExample]) -> None:
        self._review_many(request, queryset, example_approve, verb="approved", already=Status.APPROVED)

    @admin.action(description="Reject selected examples", permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[TrainingExample]) -> None:
        self._review_many(request, queryset, example_reject, verb="rejected", already=Status.REJECTED)

    @admin.action(description="Send selected examples back to the review queue", permissions=["change"])
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[TrainingExample]) -> None:
        self._review_many(request, queryset, example_reopen, verb="sent back to the queue", already=Status.PENDING)

    # --- the change page: read-only machine data and the correction form --------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: TrainingExample | None = None):
        fieldsets = [
            (
                "Question",
                {
                    "fields": [
                        "question_text",
                        "expected_concepts_list",
                        "keywords_list",
                        ("category", "difficulty", "language"),
                        "role",
                    ]
                },
            ),
            ("Answer", {"fields": ["answer_text"]}),
            (
                "Machine grade",
                {"fields": ["machine_grade", ("source", "model", "prompt_version"), "evaluation_link", "created_at"]},
            ),
            ("Review", {"fields": ["review_status", "reviewer", "reviewed_at", "review_note", "human_label"]}),
        ]
        if obj is not None and self.has_change_permission(request, obj):
            if obj.review_status == Status.REJECTED:
                # A rejected example cannot be corrected, only sent back to the queue (with a note).
                fieldsets.append(("Send back", {"fields": ["note"]}))
            else:
                fieldsets.append(
                    (
                        "Correction",
                        {
                            "fields": [
                                "corrected_score",
                                ("completeness", "technical_depth", "clarity", "key_concepts"),
                                "justification",
                                "missing_concepts",
                                "note",
                            ],
                            "description": "Change what the grade got wrong, then Approve and next (or Save "
                            "correction). The machine's grade above is kept.",
                        },
                    )
                )
        fieldsets.append(("Technical", {"fields": ["content_hash"], "classes": ["collapse"]}))
        return fieldsets

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # get_form builds a new class per request, so this does not leak between requests.
        form.review_action = next(
            (action for button, action in REVIEW_BUTTONS.items() if button in request.POST), "correct"
        )
        return form

    @admin.display(description="Question")
    def question_text(self, obj: TrainingExample) -> str:
        return format_html('<div class="r4h-text">{}</div>', obj.question)

    @admin.display(description="Answer")
    def answer_text(self, obj: TrainingExample) -> str:
        return format_html('<div class="r4h-text r4h-answer">{}</div>', obj.answer)

    @admin.display(description="Expected concepts")
    def expected_concepts_list(self, obj: TrainingExample) -> str:
        return ", ".join(obj.expected_concepts) or "—"

    @admin.display(description="Keywords")
    def keywords_list(self, obj: TrainingExample) -> str:
        return ", ".join(obj.keywords) or "—"

    @admin.display(description="Machine grade")
    def machine_grade(self, obj: TrainingExample) -> str:
        return _grade_html(obj.machine_label)

    @admin.display(description="Corrected label")
    def human_label(self, obj: TrainingExample) -> str:
        return _grade_html(obj.label) if obj.is_corrected else "Not corrected."

    @admin.display(description="Reviewed by")
    def reviewer(self, obj: TrainingExample) -> str:
        return obj.reviewer_name or "—"

    @admin.display(description="Evaluation")
    def evaluation_link(self, obj: TrainingExample) -> str:
        if obj.evaluation_id is None:
            return "— (imported)"
        url = reverse("admin:evaluation_evaluation_change", args=[obj.evaluation_id])
        return format_html('<a href="{}">Evaluation #{}</a>', url, obj.evaluation_id)

    def save_model(self, request: HttpRequest, obj: TrainingExample, form: ExampleReviewForm, change: bool) -> None:
        """The form only collects the review; the services change the row (and write the admin log)."""
        action, parts, note = form.review_action, form.correction_parts, form.cleaned_data.get("note", "")
        common = {"example_id": obj.pk, "reviewer": request.user, "note": note}
        try:
            if parts:
                example = example_correct(**common, **parts)
                message = f"Corrected example #{obj.pk} (score {example.score:g}) and approved it."
            elif action == "approve":
                example_approve(**common)
                message = f"Approved example #{obj.pk}."
            elif action == "reject":
                example_reject(**common)
                message = f"Rejected example #{obj.pk}."
            else:
                example_reopen(**common)
                message = f"Sent example #{obj.pk} back to the review queue."
            request._review_outcome = (messages.SUCCESS, message)  # type: ignore[attr-defined]
        except DomainError as exc:
            # Another reviewer changed it between the page load and this save.
            request._review_outcome = (messages.ERROR, str(exc))  # type: ignore[attr-defined]

    def log_change(self, request: HttpRequest, obj, message):
        # The review services write the admin log entry themselves, with what changed; no second entry.
        return None

    def response_change(self, request: HttpRequest, obj: TrainingExample) -> HttpResponse:
        level, message = getattr(request, "_review_outcome", (messages.INFO, "Nothing changed."))
        self.message_user(request, message, level)
        goes_next = level == messages.SUCCESS and ("_approve_next" in request.POST or "_reject_next" in request.POST)
        preserved = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
        if not goes_next:
            return HttpResponseRedirect(add_preserved_filters(preserved, request.path))
        following = example_next_in_queue(after=obj)
        if following is None:
            self.message_user(request, "The review queue is empty. Well done!", messages.SUCCESS)
            url = reverse("admin:training_trainingexample_changelist")
        else:
            url = reverse("admin:training_trainingexample_change", args=[following.pk])
        return HttpResponseRedirect(add_preserved_filters(preserved, url))

    # --- statistics ---------------------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "statistics/",
                self.admin_site.admin_view(self.statistics_view),
                name="training_trainingexample_statistics",
            ),
            *super().get_urls(),
        ]

    def statistics_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        stats = training_stats()
        total = stats["total_examples"]
        largest = max(stats["score_distribution"].values(), default=0)
        histogram = [
            {
                "range": name,
                "count": count,
                "width": round(100 * count / largest) if largest else 0,
                "share": round(100 * count / total, 1) if total else 0,
            }
            for name, count in stats["score_distribution"].items()
        ]
        tables = [
            (
                title,
                [(value, count, round(100 * count / total, 1) if total else 0) for value, count in stats[key].items()],
            )
            for title, key in (
                ("Review status", "by_review_status"),
                ("Source", "by_source"),
                ("Category", "by_category"),
                ("Difficulty", "by_difficulty"),
                ("Role", "by_role"),
            )
        ]
        settings_admin = self.admin_site._registry.get(CollectionSettings)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Training examples: statistics",
            "stats": stats,
            "reviewed_percent": round(100 * stats["reviewed_share"], 1),
            "histogram": histogram,
            "tables": tables,
            "collection": collection_settings_get(),
            "can_change_collection": bool(settings_admin and settings_admin.has_change_permission(request)),
        }
        return TemplateResponse(request, "admin/training/trainingexample/statistics.html", context)


@admin.register(CollectionSettings)
class CollectionSettingsAdmin(admin.ModelAdmin):
    """One row: the list page opens it directly."""

    fields = [
        "enabled",
        "min_score_threshold",
        "collect_llm",
        "collect_heuristic",
        "collect_human",
        "updated_at",
        "updated_by",
    ]
    readonly_fields = ["updated_at", "updated_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return redirect("admin:training_collectionsettings_change", collection_settings_get().pk)

    def save_model(self, request: HttpRequest, obj: CollectionSettings, form, change: bool) -> None:
        data = form.cleaned_data
        collection_settings_update(
            enabled=data["enabled"],
            min_score_threshold=data["min_score_threshold"],
            sources=[source for source in TrainingExample.Source.values if data.get(f"collect_{source}")],
            updated_by=request.user,
        )
