"""The reviewer's correction form: the grade's parts, pre-filled with the current label."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from evaluation.llm.schema import BREAKDOWN_MAXIMA, SCORE_MAX
from ready4hire.errors import DomainError

from .models import TrainingExample
from .services import example_correction_label, example_review_check

BREAKDOWN_LABELS = {
    "completeness": gettext_lazy("Completeness"),
    "technical_depth": gettext_lazy("Technical depth"),
    "clarity": gettext_lazy("Clarity"),
    "key_concepts": gettext_lazy("Key concepts"),
}


class ParagraphField(forms.CharField):
    """Free text compared with white space folded, so a browser's CRLF line ends are not a change."""

    def to_python(self, value: Any) -> str:
        return " ".join(str(super().to_python(value)).split())

    def has_changed(self, initial: Any, data: Any) -> bool:
        return " ".join(str(initial or "").split()) != self.to_python(data)


class LinesField(forms.CharField):
    """A list of short texts edited one per line."""

    widget = forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [line.strip() for line in str(text).splitlines() if line.strip()]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return list(initial or []) != self.to_python(data)


def _breakdown_field(name: str) -> forms.FloatField:
    top = BREAKDOWN_MAXIMA[name]
    return forms.FloatField(
        label=BREAKDOWN_LABELS[name], min_value=0, max_value=top, required=False, help_text=f"0-{top:g}"
    )


class ExampleReviewForm(forms.ModelForm):
    """Review buttons set `review_action` (approve, reject, correct, reopen) on the form class per request."""

    review_action = "correct"

    corrected_score = forms.FloatField(
        label=gettext_lazy("Score"),
        min_value=0,
        max_value=SCORE_MAX,
        required=False,
        help_text="0-10, one decimal. If the breakdown disagrees with the score, it is scaled to match.",
    )
    completeness = _breakdown_field("completeness")
    technical_depth = _breakdown_field("technical_depth")
    clarity = _breakdown_field("clarity")
    key_concepts = _breakdown_field("key_concepts")
    justification = ParagraphField(required=False, widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField"}))
    missing_concepts = LinesField(required=False, help_text=gettext_lazy("One per line."))
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy(
            "Why you approved, rejected or corrected it (kept with the example and in its history)."
        ),
    )

    class Meta:
        model = TrainingExample
        fields = ["corrected_score", *BREAKDOWN_MAXIMA, "justification", "missing_concepts", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The admin lists the fields the page shows (none of the grade's for a rejected example); declared
        # fields it left out must not count as blank input.
        if self._meta.fields is not None:
            for name in [name for name in self.fields if name not in self._meta.fields]:
                del self.fields[name]
        self.correction_parts: dict[str, Any] = {}
        label = self.instance.label if self.instance.pk else None
        if label:
            breakdown = label.get("breakdown") or {}
            self.initial.update(
                corrected_score=label.get("score"),
                justification=label.get("justification", ""),
                missing_concepts=list(label.get("missing_concepts") or []),
                **{name: breakdown.get(name) for name in BREAKDOWN_MAXIMA},
            )

    def correction(self) -> dict[str, Any]:
        """The parts of the grade the reviewer changed, as `example_correct` arguments."""
        changed = set(self.changed_data) & set(self.fields)
        data = self.cleaned_data
        parts: dict[str, Any] = {}
        if "corrected_score" in changed and data.get("corrected_score") is not None:
            parts["score"] = data["corrected_score"]
        if changed & set(BREAKDOWN_MAXIMA):
            missing = [BREAKDOWN_LABELS[name] for name in BREAKDOWN_MAXIMA if data.get(name) is None]
            if missing:
                raise forms.ValidationError(
                    _("Give every part of the breakdown (missing: %(parts)s).")
                    % {"parts": ", ".join(str(part) for part in missing)}
                )
            parts["breakdown"] = {name: data[name] for name in BREAKDOWN_MAXIMA}
        if "justification" in changed:
            parts["justification"] = data["justification"]
        if "missing_concepts" in changed:
            parts["missing_concepts"] = data["missing_concepts"]
        return parts

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        action = self.review_action
        try:
            parts = self.correction()
            if parts and action in ("reject", "reopen"):
                raise forms.ValidationError(
                    _(
                        "You changed the grade. Use “Correct score and approve”, or undo the change before "
                        "rejecting or sending the example back."
                    )
                )
            if not parts and action == "correct":
                raise forms.ValidationError(
                    _(
                        "Nothing to save: change the score, the breakdown, the justification or the missing concepts, "
                        "or use Approve / Reject."
                    )
                )
            example_review_check(example=self.instance, action="correct" if parts else action)
            if parts:
                # Validate now, with the service's own rules, so the reviewer sees errors next to the fields.
                example_correction_label(current=self.instance.label, **parts)
            self.correction_parts = parts
        except DomainError as exc:
            self.add_error(_form_field(exc.field), str(exc))
        return cleaned


def _form_field(service_field: str | None) -> str | None:
    """Map a service's field name ("score", "breakdown.clarity") to the form field that shows the error."""
    if not service_field:
        return None
    name = service_field.rsplit(".", 1)[-1]
    if name == "score":
        return "corrected_score"
    return name if name in ("justification", "missing_concepts", *BREAKDOWN_MAXIMA) else None
