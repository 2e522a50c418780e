"""The reviewers' admin: the review queue (list page), bulk actions and the correction page.

The review screen lives in `review.py`, the statistics page in `statistics.py`; both are views of this admin.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ready4hire.errors import DomainError, InvalidInput

from ..forms import ExampleReviewForm
from ..models import CollectionSettings, TrainingExample
from ..selectors import SCORE_BUCKETS, collection_settings_get, score_bucket_q
from ..selectors.queue import DEFAULT_ORDER, ORDERS, ReviewQueue, review_queue_examples, review_queue_next
from ..services import (
    collection_settings_update,
    example_approve,
    example_correct,
    example_reject,
    example_reopen,
)
from .grades import grade_html
from .review import ORDERS as ORDER_LABELS
from .review import ReviewScreenMixin
from .statistics import StatisticsMixin

Status = TrainingExample.ReviewStatus

# The change page's buttons and the review action each one asks for.
REVIEW_BUTTONS = {"_approve_next": "approve", "_reject_next": "reject", "_reopen": "reopen", "_correct": "correct"}


def _examples(count: int) -> str:
    return ngettext("%(count)d example", "%(count)d examples", count) % {"count": count}


def queue_of(querydict) -> ReviewQueue:
    """The review queue a list page or change page stands for; filters it cannot read fall back to any."""
    try:
        return ReviewQueue.from_querydict(querydict)
    except InvalidInput:
        return ReviewQueue()


class ReviewStatusFilter(admin.SimpleListFilter):
    """The changelist opens on the review queue (pending examples); 'All' shows everything."""

    title = gettext_lazy("review status")
    parameter_name = "review_status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*Status.choices, (self.ALL, _("All"))]

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
            raise IncorrectLookupParameters(_("Unknown review status %(status)r.") % {"status": self.selected()})
        return queryset.filter(review_status=self.selected())


class ScoreRangeFilter(admin.SimpleListFilter):
    title = gettext_lazy("score range")
    parameter_name = "score_range"

    def lookups(self, request, model_admin):
        return [(name, name) for name, _low, _high in SCORE_BUCKETS]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(score_bucket_q(self.value()))
        except InvalidInput as exc:
            raise IncorrectLookupParameters(exc) from None


class OrderFilter(admin.SimpleListFilter):
    """The queue's order, chosen like a filter; the admin's `get_ordering` applies it (column sorts win)."""

    title = gettext_lazy("order")
    parameter_name = "order"

    def lookups(self, request, model_admin):
        return ORDER_LABELS

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or DEFAULT_ORDER) == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        return queryset


def _order(request: HttpRequest) -> str:
    order = request.GET.get("order")
    return order if order in ORDERS else DEFAULT_ORDER


@admin.register(TrainingExample)
class TrainingExampleAdmin(ReviewScreenMixin, StatisticsMixin, admin.ModelAdmin):
    form = ExampleReviewForm
    # Narrow enough for 1,440 px; the full texts and grade are on the change page and the review screen.
    list_display = ["id", "short_question", "short_answer", "score", "category", "language", "review_status"]
    list_display_links = ["id", "short_question"]
    list_filter = [
        ReviewStatusFilter,
        OrderFilter,
        "category",
        "difficulty",
        "language",
        "source",
        ScoreRangeFilter,
        "role",
    ]
    search_fields = ["question", "answer"]
    list_per_page = 50
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

    # --- the review queue (list page) --------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[TrainingExample]:
        # The queue's one selector, so the list shows the queue in the order the review screen walks it.
        return review_queue_examples(queue=ReviewQueue(order=_order(request)))

    def get_ordering(self, request: HttpRequest) -> list:
        return list(self.get_queryset(request).query.order_by)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        queue = queue_of(request.GET)
        query = queue.to_querystring()
        extra = {
            "title": _("Training examples to review"),
            "review_url": reverse("admin:training_trainingexample_review") + (f"?{query}" if query else ""),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

    @admin.display(description=gettext_lazy("Question"))
    def short_question(self, obj: TrainingExample) -> str:
        return Truncator(" ".join(obj.question.split())).chars(60)

    @admin.display(description=gettext_lazy("Answer"))
    def short_answer(self, obj: TrainingExample) -> str:
        return Truncator(" ".join(obj.answer.split())).chars(90)

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
        status_label = Status(already).label
        message = _("%(examples)s %(verb)s.") % {"examples": _examples(done), "verb": verb}
        if skipped:
            message += " " + ngettext(
                "%(count)d example was already %(status)s.", "%(count)d examples were already %(status)s.", skipped
            ) % {"count": skipped, "status": str(status_label).lower()}
        self.message_user(request, message, messages.SUCCESS if done or not failures else messages.WARNING)
        if failures:
            problem = _("%(examples)s not %(verb)s: %(reason)s") % {
                "examples": _examples(len(failures)),
                "verb": verb,
                "reason": failures[0],
            }
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description=gettext_lazy("Approve selected examples"), permissions=["change"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[TrainingExample]) -> None:
        self._review_many(request, queryset, example_approve, verb=_("approved"), already=Status.APPROVED)

    @admin.action(description=gettext_lazy("Reject selected examples"), permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[TrainingExample]) -> None:
        self._review_many(request, queryset, example_reject, verb=_("rejected"), already=Status.REJECTED)

    @admin.action(description=gettext_lazy("Send selected examples back to the review queue"), permissions=["change"])
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[TrainingExample]) -> None:
        self._review_many(request, queryset, example_reopen, verb=_("sent back to the queue"), already=Status.PENDING)

    # --- the change page: the correction form beside the example, both above the fold -------------------

    def get_fieldsets(self, request: HttpRequest, obj: TrainingExample | None = None):
        # "r4h-side" fieldsets go to the right-hand column (change_form.html), next to the question and answer.
        fieldsets: list = []
        if obj is not None and self.has_change_permission(request, obj):
            if obj.review_status == Status.REJECTED:
                # A rejected example cannot be corrected, only sent back to the queue (with a note).
                fieldsets.append((_("Send back"), {"fields": ["note"], "classes": ["r4h-side"]}))
            else:
                fieldsets += [
                    (
                        _("Correction"),
                        {
                            "fields": [
                                "corrected_score",
                                ("completeness", "technical_depth", "clarity", "key_concepts"),
                                "note",
                            ],
                            "classes": ["r4h-side"],
                            "description": _(
                                "Change what the grade got wrong, then “Correct score and approve” (or Approve and "
                                "next). The machine's grade is kept."
                            ),
                        },
                    ),
                    (
                        _("Justification and missing concepts"),
                        {"fields": ["justification", "missing_concepts"], "classes": ["r4h-side"]},
                    ),
                ]
        fieldsets += [
            (
                _("Question"),
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
            (_("Answer"), {"fields": ["answer_text"]}),
            (
                _("Machine grade"),
                {"fields": ["machine_grade", ("source", "model", "prompt_version"), "evaluation_link", "created_at"]},
            ),
            (
                _("Review"),
                {
                    "fields": ["review_status", "reviewer", "reviewed_at", "review_note", "human_label"],
                    "classes": ["r4h-side"],
                },
            ),
            (_("Technical"), {"fields": ["content_hash"], "classes": ["collapse", "r4h-side"]}),
        ]
        return fieldsets

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # get_form builds a new class per request, so this does not leak between requests.
        form.review_action = next(
            (action for button, action in REVIEW_BUTTONS.items() if button in request.POST), "correct"
        )
        return form

    @admin.display(description=gettext_lazy("Question"))
    def question_text(self, obj: TrainingExample) -> str:
        return format_html('<div class="r4h-text">{}</div>', obj.question)

    @admin.display(description=gettext_lazy("Answer"))
    def answer_text(self, obj: TrainingExample) -> str:
        return format_html('<div class="r4h-text r4h-answer">{}</div>', obj.answer)

    @admin.display(description=gettext_lazy("Expected concepts"))
    def expected_concepts_list(self, obj: TrainingExample) -> str:
        return ", ".join(obj.expected_concepts) or "—"

    @admin.display(description=gettext_lazy("Keywords"))
    def keywords_list(self, obj: TrainingExample) -> str:
        return ", ".join(obj.keywords) or "—"

    @admin.display(description=gettext_lazy("Machine grade"))
    def machine_grade(self, obj: TrainingExample) -> str:
        return grade_html(obj.machine_label)

    @admin.display(description=gettext_lazy("Corrected label"))
    def human_label(self, obj: TrainingExample) -> str:
        return grade_html(obj.label) if obj.is_corrected else _("Not corrected.")

    @admin.display(description=gettext_lazy("Reviewed by"))
    def reviewer(self, obj: TrainingExample) -> str:
        return obj.reviewer_name or "—"

    @admin.display(description=gettext_lazy("Evaluation"))
    def evaluation_link(self, obj: TrainingExample) -> str:
        if obj.evaluation_id is None:
            return _("— (imported)")
        url = reverse("admin:evaluation_evaluation_change", args=[obj.evaluation_id])
        return format_html('<a href="{}">{}</a>', url, _("Evaluation #%(id)s") % {"id": obj.evaluation_id})

    def save_model(self, request: HttpRequest, obj: TrainingExample, form: ExampleReviewForm, change: bool) -> None:
        """The form only collects the review; the services change the row (and write the admin log)."""
        action, parts, note = form.review_action, form.correction_parts, form.cleaned_data.get("note", "")
        common = {"example_id": obj.pk, "reviewer": request.user, "note": note}
        try:
            if parts:
                example = example_correct(**common, **parts)
                message = _("Corrected example #%(id)s (score %(score)s) and approved it.") % {
                    "id": obj.pk,
                    "score": f"{example.score:g}",
                }
            elif action == "approve":
                example_approve(**common)
                message = _("Approved example #%(id)s.") % {"id": obj.pk}
            elif action == "reject":
                example_reject(**common)
                message = _("Rejected example #%(id)s.") % {"id": obj.pk}
            else:
                example_reopen(**common)
                message = _("Sent example #%(id)s back to the review queue.") % {"id": obj.pk}
            request._review_outcome = (messages.SUCCESS, message)  # type: ignore[attr-defined]
        except DomainError as exc:
            # Another reviewer changed it between the page load and this save.
            request._review_outcome = (messages.ERROR, str(exc))  # type: ignore[attr-defined]

    def log_change(self, request: HttpRequest, obj, message):
        # The review services write the admin log entry themselves, with what changed; no second entry.
        return None

    def response_change(self, request: HttpRequest, obj: TrainingExample) -> HttpResponse:
        level, message = getattr(request, "_review_outcome", (messages.INFO, _("Nothing changed.")))
        self.message_user(request, message, level)
        goes_next = level == messages.SUCCESS and ("_approve_next" in request.POST or "_reject_next" in request.POST)
        preserved_filters = self.get_preserved_filters(request)
        preserved = {"preserved_filters": preserved_filters, "opts": self.opts}
        if not goes_next:
            return HttpResponseRedirect(add_preserved_filters(preserved, request.path))
        # Next in the queue the reviewer came from: the list's filters, search and order.
        queue = queue_of(QueryDict(request.GET.get("_changelist_filters", "")))
        following = review_queue_next(queue=queue, reviewer=request.user, after_id=obj.pk)
        if following is None:
            self.message_user(request, _("The review queue is empty. Well done!"), messages.SUCCESS)
            url = reverse("admin:training_trainingexample_changelist")
        else:
            url = reverse("admin:training_trainingexample_change", args=[following.pk])
        return HttpResponseRedirect(add_preserved_filters(preserved, url))

    def get_urls(self):
        return [*self.review_urls(), *self.statistics_urls(), *super().get_urls()]


@admin.register(CollectionSettings)
class CollectionSettingsAdmin(admin.ModelAdmin):
    """One row: the list page opens it directly."""

    fields = [
        "enabled",
        "min_score_threshold",
        "collect_llm",
        "collect_heuristic",
        "collect_human",
        "reviews_required",
        "review_reservation_seconds",
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
            reviews_required=data["reviews_required"],
            review_reservation_seconds=data["review_reservation_seconds"],
            sources=[source for source in TrainingExample.Source.values if data.get(f"collect_{source}")],
            updated_by=request.user,
        )
