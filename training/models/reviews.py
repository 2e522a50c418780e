"""A review: one person's (or the demo's) decision on one training example, a row of its own.

An example's status follows from its current reviews (see `training.services.consensus`); the row also keeps
the example's state from just before it, so the reviewer's last action can be undone exactly.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Review(models.Model):
    class Action(models.TextChoices):
        APPROVE = "approve", _("Approve")
        REJECT = "reject", _("Reject")
        CORRECT = "correct", _("Correct")
        REOPEN = "reopen", _("Send back to the queue")

    class Kind(models.TextChoices):
        REVIEW = "review", _("Review")
        ADJUDICATION = "adjudication", _("Adjudication")
        AUTOMATIC = "automatic", _("Automatic")

    example = models.ForeignKey("training.TrainingExample", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_reviews"
    )
    api_key = models.ForeignKey(
        "evaluation.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_reviews",
        help_text=_("The program's key, for reviews made by a key bound to no person (before keys had users)."),
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.REVIEW)
    action = models.CharField(max_length=10, choices=Action.choices)
    score = models.FloatField(
        null=True, blank=True, help_text=_("The score this reviewer gives (approve: the label's).")
    )
    breakdown = models.JSONField(null=True, blank=True)
    label = models.JSONField(null=True, blank=True, help_text=_("correct: the full label the reviewer proposes."))
    note = models.TextField(blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    current = models.BooleanField(
        default=True, help_text=_("Counts towards the example's status; sending it back to the queue starts afresh.")
    )
    before = models.JSONField(default=dict, blank=True, help_text=_("The example's review state just before."))
    version_after = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["reviewer", "-created_at"], name="review_reviewer_idx"),
            models.Index(fields=["example", "current"], name="review_example_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} of example {self.example_id} by {self.reviewer_name or 'the system'}"

    @property
    def reviewer_name(self) -> str | None:
        if self.reviewer is not None:
            return self.reviewer.get_username()
        if self.api_key is not None:
            return f"API key {self.api_key.name}"
        return None

    @property
    def verdict(self) -> str:
        """What the review says about the example: keep it (approve or correct, with a score) or reject it."""
        return "reject" if self.action == self.Action.REJECT else "keep"
