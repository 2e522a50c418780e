"""The review screen: one example of the reviewer's queue at a time, the whole decision on one screen.

A view of the TrainingExample admin (`ReviewScreenMixin.review_urls`). The queue is the reviewer's filter,
search and order, carried in the query string and read by the one queue selector, so next, previous, the
list page and the API agree. The keys are in static/training/review.js; the same list drives the buttons'
labels and the `?` overlay.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from evaluation.choices import Category, Difficulty, Language
from evaluation.llm.schema import BREAKDOWN_MAXIMA, SCORE_MAX
from ready4hire.errors import DomainError

from ..models import TrainingExample
from ..selectors.queue import ReviewQueue, review_queue_next, review_queue_previous, review_queue_progress
from ..services.review import example_adjudicate, example_review
from ..services.review_state import example_reserve, example_review_undo
from .grades import BREAKDOWN_LABELS, concept_marks, opinions_of, rubric_for

Status = TrainingExample.ReviewStatus

# (key, what it does): the `?` overlay lists these, and each button shows its key.
KEYS = [
    ("A", gettext_lazy("Approve the grade as it is")),
    ("R", gettext_lazy("Reject the example")),
    ("C", gettext_lazy("Correct the score and approve")),
    ("0–9", gettext_lazy("Type the score (1 then 0 for 10)")),
    ("Enter", gettext_lazy("Approve, or correct when you changed the score")),
    ("N / →", gettext_lazy("Next example (skip this one)")),
    ("P / ←", gettext_lazy("Previous example")),
    ("U", gettext_lazy("Undo your last review")),
    ("T", gettext_lazy("Write a note")),
    ("Esc", gettext_lazy("Leave the note, close this help")),
    ("?", gettext_lazy("Show or hide these keys")),
]
ACTIONS = ("approve", "reject", "correct", "undo")
ORDERS = [
    ("disagreement", gettext_lazy("Disagreement first")),
    ("uncertainty", gettext_lazy("Uncertain first")),
    ("balance", gettext_lazy("What the dataset lacks")),
    ("newest", gettext_lazy("Newest first")),
]


def _number_field(label: Any, top: float) -> forms.FloatField:
    # A text input rather than type=number: the letters of the shortcuts must not be swallowed by it, and a
    # browser's own number validation would hide the server's message.
    return forms.FloatField(
        label=label,
        min_value=0,
        max_value=top,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "data-numeric": "1"}),
    )


class ReviewDecisionForm(forms.Form):
    """One decision on one example; the score and breakdown start as the example's current label."""

    example_id = forms.IntegerField(widget=forms.HiddenInput)
    expected_version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    seconds_spent = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)
    action = forms.ChoiceField(choices=[(action, action) for action in ACTIONS])
    score = _number_field(gettext_lazy("Score"), SCORE_MAX)
    completeness = _number_field(BREAKDOWN_LABELS["completeness"], BREAKDOWN_MAXIMA["completeness"])
    technical_depth = _number_field(BREAKDOWN_LABELS["technical_depth"], BREAKDOWN_MAXIMA["technical_depth"])
    clarity = _number_field(BREAKDOWN_LABELS["clarity"], BREAKDOWN_MAXIMA["clarity"])
    key_concepts = _number_field(BREAKDOWN_LABELS["key_concepts"], BREAKDOWN_MAXIMA["key_concepts"])
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": gettext_lazy("Why? (optional, kept with the review)")}),
    )

    def __init__(self, *args: Any, example: TrainingExample, **kwargs: Any) -> None:
        label = example.label or {}
        breakdown = label.get("breakdown") or {}
        initial = {
            "example_id": example.pk,
            "expected_version": example.version,
            "score": label.get("score"),
            **{name: breakdown.get(name) for name in BREAKDOWN_MAXIMA},
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.example = example

    def _grade_changes(self) -> tuple[bool, bool]:
        """(score changed, breakdown changed) against the label the page showed."""
        changed = set(self.changed_data)
        score_changed = "score" in changed and self.cleaned_data.get("score") is not None
        return score_changed, bool(changed & set(BREAKDOWN_MAXIMA))

    def decision(self) -> dict[str, Any]:
        """The `example_review` arguments. Approving with a changed score or breakdown is a correction."""
        data = self.cleaned_data
        score_changed, breakdown_changed = self._grade_changes()
        decision: dict[str, Any] = {"action": data["action"], "note": data.get("note", "")}
        if data["action"] in ("approve", "correct") and (score_changed or breakdown_changed):
            decision["action"] = "correct"
            if score_changed:
                decision["score"] = data["score"]
            if breakdown_changed:
                decision["breakdown"] = {name: data[name] for name in BREAKDOWN_MAXIMA}
        return decision

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors or cleaned.get("action") in (None, "undo"):
            return cleaned
        score_changed, breakdown_changed = self._grade_changes()
        if breakdown_changed:
            missing = [name for name in BREAKDOWN_MAXIMA if cleaned.get(name) is None]
            if missing:
                self.add_error(missing[0], _("Give every part of the breakdown."))
        if cleaned["action"] == "correct" and not (score_changed or breakdown_changed):
            self.add_error("score", _("Type the corrected score first, or approve the grade as it is (A)."))
        return cleaned


class ReviewScreenMixin:
    """Adds `review/` to the TrainingExample admin."""

    def review_urls(self) -> list:
        return [
            path(
                "review/",
                self.admin_site.admin_view(self.review_view),  # type: ignore[attr-defined]
                name="training_trainingexample_review",
            )
        ]

    def review_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        try:
            queue = ReviewQueue.from_querydict(request.GET)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(reverse("admin:training_trainingexample_review"))
        if request.method == "POST":
            return self._review_submit(request, queue)
        example = self._review_target(request, queue)
        form = ReviewDecisionForm(example=example) if example is not None else None
        return self._review_render(request, queue, example, form)

    # --- reading: which example, and everything the decision needs ----------------------------------

    def _review_target(self, request: HttpRequest, queue: ReviewQueue) -> TrainingExample | None:
        reviewer = request.user
        wanted = _int(request.GET.get("id"))
        if wanted is not None:
            example = TrainingExample.objects.filter(pk=wanted).first()
            if example is None:
                raise Http404(_("Training example %(id)s does not exist.") % {"id": wanted})
        elif "before" in request.GET:
            before = _int(request.GET["before"])
            example = review_queue_previous(queue=queue, reviewer=reviewer, after_id=before) if before else None
            if example is None:
                self.message_user(request, _("Nothing before this example."), messages.INFO)  # type: ignore[attr-defined]
                return review_queue_next(queue=queue, reviewer=reviewer)
        else:
            example = review_queue_next(queue=queue, reviewer=reviewer, after_id=_int(request.GET.get("after")))
        if example is not None and example.review_status == Status.PENDING:
            try:
                example_reserve(example=example, reviewer=reviewer)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.WARNING)  # type: ignore[attr-defined]
        return example

    def _review_render(
        self,
        request: HttpRequest,
        queue: ReviewQueue,
        example: TrainingExample | None,
        form: ReviewDecisionForm | None,
        status: int = 200,
    ) -> TemplateResponse:
        reviewed, total, today = review_queue_progress(queue=queue, reviewer=request.user)
        base = reverse("admin:training_trainingexample_review")
        query = queue.to_querystring()
        here = f"{base}?{query}" if query else base
        joiner = "&" if query else ""
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "opts": TrainingExample._meta,
            "title": _("Review"),
            "example": example,
            "form": form,
            "queue_query": query,
            "action_url": here,
            "list_url": _with_query(reverse("admin:training_trainingexample_changelist"), query),
            "filters": _filter_bar(queue, can_adjudicate=request.user.has_perm("training.adjudicate_trainingexample")),
            "progress": {
                "reviewed": reviewed,
                "total": total,
                "today": today,
                "percent": round(100 * reviewed / total) if total else 0,
            },
            "keys": KEYS,
            "queue_q": getattr(queue, "q", "") or "",
            "breakdown_fields": [form[name] for name in BREAKDOWN_MAXIMA] if form is not None else [],
        }
        if example is not None:
            machine = example.machine_label or {}
            context.update(
                machine=machine,
                machine_breakdown=_breakdown_rows(machine),
                corrected=example.label if example.is_corrected else None,
                concepts=concept_marks(example.expected_concepts, machine),
                opinions=opinions_of(example),
                rubric=rubric_for(example.category),
                next_url=f"{base}?{query}{joiner}after={example.pk}",
                previous_url=f"{base}?{query}{joiner}before={example.pk}",
                change_url=reverse("admin:training_trainingexample_change", args=[example.pk]),
                decided=example.review_status != Status.PENDING,
            )
        return TemplateResponse(request, "admin/training/trainingexample/review.html", context, status=status)

    # --- writing: one decision, then the next example of the same queue --------------------------------

    def _review_submit(self, request: HttpRequest, queue: ReviewQueue) -> HttpResponse:
        base = reverse("admin:training_trainingexample_review")
        query = queue.to_querystring()
        joiner = "&" if query else ""
        if request.POST.get("action") == "undo":
            return self._review_undo(request, f"{base}?{query}{joiner}")
        example = TrainingExample.objects.filter(pk=_int(request.POST.get("example_id"))).first()
        if example is None:
            raise Http404(_("This example no longer exists."))
        form = ReviewDecisionForm(request.POST, example=example)
        if not form.is_valid():
            return self._review_render(request, queue, example, form)
        decision = form.decision()
        data = form.cleaned_data
        try:
            if example.review_status == Status.ADJUDICATION:
                status = example_adjudicate(
                    example=example, user=request.user, seconds_spent=data.get("seconds_spent"), **decision
                )
            else:
                status = example_review(
                    example=example,
                    reviewer=request.user,
                    seconds_spent=data.get("seconds_spent"),
                    # What the page saw, so a review saved over a newer one is refused rather than applied.
                    expected_version=data.get("expected_version"),
                    **decision,
                )
        except DomainError as exc:
            # "breakdown.clarity" goes next to the clarity box; "breakdown" and the rest above the form.
            name = (exc.field or "").rsplit(".", 1)[-1]
            form.add_error(name if name in ("score", "note", *BREAKDOWN_MAXIMA) else None, str(exc))
            return self._review_render(request, queue, example, form)
        self.message_user(request, _decided_message(decision, example, status), messages.SUCCESS)  # type: ignore[attr-defined]
        return HttpResponseRedirect(f"{base}?{query}{joiner}after={example.pk}")

    def _review_undo(self, request: HttpRequest, prefix: str) -> HttpResponse:
        try:
            undone = example_review_undo(reviewer=request.user)
        except DomainError as exc:
            undone, problem = None, str(exc)
        else:
            problem = _("You have no review to undo.")
        if undone is None:
            self.message_user(request, problem, messages.WARNING)  # type: ignore[attr-defined]
            return HttpResponseRedirect(prefix.rstrip("?&"))
        message = _("Undid your review of example #%(id)s: it is back in the queue.") % {"id": undone.pk}
        self.message_user(request, message, messages.SUCCESS)  # type: ignore[attr-defined]
        return HttpResponseRedirect(f"{prefix}id={undone.pk}")


def _decided_message(decision: dict[str, Any], example: TrainingExample, status: str) -> str:
    if status == Status.PENDING:
        return _("Reviewed example #%(id)s; it waits for more reviews.") % {"id": example.pk}
    if status == Status.ADJUDICATION:
        return _("Reviewed example #%(id)s; the reviews disagree, so it goes to adjudication.") % {"id": example.pk}
    if decision["action"] == "approve":
        return _("Approved example #%(id)s.") % {"id": example.pk}
    if decision["action"] == "reject":
        return _("Rejected example #%(id)s.") % {"id": example.pk}
    return _("Corrected example #%(id)s and approved it.") % {"id": example.pk}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _breakdown_rows(label: dict) -> list[dict[str, Any]]:
    breakdown = label.get("breakdown") or {}
    rows = []
    for name, top in BREAKDOWN_MAXIMA.items():
        value = breakdown.get(name)
        share = round(100 * value / top) if isinstance(value, int | float) and top else 0
        rows.append({"name": name, "label": BREAKDOWN_LABELS[name], "value": value, "top": top, "share": share})
    return rows


def _filter_bar(queue: ReviewQueue, *, can_adjudicate: bool) -> list[dict[str, Any]]:
    """The queue's filters as selects, each with its current value, for the form at the top of the screen."""
    everything = ("", _("All"))
    choices = {
        "category": [everything, *Category.choices],
        "difficulty": [everything, *Difficulty.choices],
        "language": [everything, *Language.choices],
        "source": [everything, *TrainingExample.Source.choices],
        "review_status": [("", _("To review")), (Status.ADJUDICATION, Status.ADJUDICATION.label)],
        "order": ORDERS,
    }
    labels = {
        "category": _("Category"),
        "difficulty": _("Level"),
        "language": _("Language"),
        "source": _("Source"),
        "review_status": _("Queue"),
        "order": _("Order"),
    }
    return [
        {
            "name": name,
            "label": labels[name],
            "options": [(str(value), str(text)) for value, text in options],
            "value": str(getattr(queue, name, "") or ""),
        }
        for name, options in choices.items()
        if name != "review_status" or can_adjudicate
    ]
