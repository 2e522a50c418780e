"""The training example: a graded answer kept for training, and what reviewers decided about it."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from evaluation.choices import Category, Difficulty, Language
from evaluation.llm.schema import GradingRequest


class TrainingExample(models.Model):
    """A graded answer kept as a candidate training example, and what reviewers decided about it.

    `label` is the training target (the full output schema); when a reviewer corrects it, the machine's
    grade stays in `original_label` / `original_score`.
    """

    class Source(models.TextChoices):
        LLM = "llm", _("LLM")
        HEURISTIC = "heuristic", _("Heuristic")
        HUMAN = "human", _("Human")

    class ReviewStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        ADJUDICATION = "adjudication", _("Needs adjudication")

    evaluation = models.ForeignKey(
        "evaluation.Evaluation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_examples",
        help_text=_("The evaluation it was collected from; empty for imported examples."),
    )
    question = models.TextField()
    answer = models.TextField()
    expected_concepts = models.JSONField(default=list, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    difficulty = models.CharField(max_length=10, choices=Difficulty.choices)
    role = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default="es")

    label = models.JSONField(help_text=_("The training target: the full grade (score, breakdown, justification, ...)."))
    score = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(10)])
    original_label = models.JSONField(
        null=True, blank=True, help_text=_("The machine's grade, kept after a correction.")
    )
    original_score = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    model = models.CharField(max_length=200, blank=True, help_text=_("The model that produced the machine grade."))
    prompt_version = models.CharField(max_length=40, blank=True)

    review_status = models.CharField(max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    decided_automatically = models.BooleanField(
        default=False, help_text=_("Approved by a program (the demo), not by a person: never counted as reviewed.")
    )
    version = models.PositiveIntegerField(
        default=0, help_text=_("Goes up with every review, so an edit made on an older page is refused.")
    )
    reserved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reserved_examples"
    )
    reserved_until = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_examples"
    )
    reviewed_by_key = models.ForeignKey(
        "evaluation.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviewed_examples",
        help_text=_("The API key of the client that reviewed it, when a program rather than a person did."),
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    opinions = models.JSONField(
        default=dict, blank=True, help_text=_("Other graders' scores of the same answer: {grader: score}.")
    )
    disagreement = models.FloatField(default=0.0, help_text=_("The spread (max - min) between the opinions."))
    uncertainty = models.FloatField(
        default=0.0, help_text=_("The spread over repeated grades, or closeness to a score-range boundary.")
    )

    content_hash = models.CharField(
        max_length=64, unique=True, editable=False, help_text=_("SHA-256 of the normalised question and answer.")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["review_status", "-created_at", "-id"], name="example_queue_idx"),
            models.Index(fields=["category", "difficulty"], name="example_category_idx"),
            models.Index(fields=["source"], name="example_source_idx"),
            models.Index(fields=["score"], name="example_score_idx"),
            models.Index(fields=["role"], name="example_role_idx"),
            models.Index(fields=["review_status", "-disagreement", "-created_at", "-id"], name="example_disagree_idx"),
            models.Index(fields=["review_status", "-uncertainty", "-created_at", "-id"], name="example_uncertain_idx"),
            # Covers every queue filter (but the text search) and the reservation, so the review screen's
            # "left in this queue" count reads this index only, never the rows.
            models.Index(
                fields=[
                    "review_status",
                    "language",
                    "category",
                    "difficulty",
                    "source",
                    "score",
                    "role",
                    "reserved_until",
                    "reserved_by",
                ],
                name="example_queue_count_idx",
            ),
        ]
        permissions = [("adjudicate_trainingexample", "Can adjudicate examples whose reviews disagree")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=0) & models.Q(score__lte=10), name="example_score_range"
            ),
        ]

    def __str__(self) -> str:
        question = " ".join(self.question.split())
        return f"#{self.pk} {question[:60]}{'…' if len(question) > 60 else ''}"

    def grading_request(self) -> GradingRequest:
        """The request this example answers, as the live grader would have built it."""
        return GradingRequest.from_snapshot(self)

    @property
    def is_corrected(self) -> bool:
        return self.original_label is not None

    @property
    def machine_label(self) -> dict:
        """The grade the machine gave, whether or not a reviewer corrected it since."""
        return self.original_label if self.original_label is not None else self.label

    @property
    def reviewer_name(self) -> str | None:
        if self.reviewed_by is not None:
            return self.reviewed_by.get_username()
        if self.reviewed_by_key is not None:
            return f"API key {self.reviewed_by_key.name}"
        return None
