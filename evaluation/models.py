"""The grading app's tables: the question catalogue, each evaluation (request, grade, how it was made) and
the API keys."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import Category, Difficulty, Language
from .llm.schema import GradingRequest


class Question(models.Model):
    """An interview question from the catalogue, with what a good answer should contain."""

    key = models.SlugField(max_length=120, unique=True, help_text=_("Stable identifier, e.g. 'py-gil-en'."))
    text = models.TextField()
    language = models.CharField(max_length=2, choices=Language.choices, default="es")
    category = models.CharField(max_length=20, choices=Category.choices)
    difficulty = models.CharField(max_length=10, choices=Difficulty.choices)
    role = models.CharField(max_length=100, blank=True)
    expected_concepts = models.JSONField(default=list, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    reference_answer = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        indexes = [models.Index(fields=["language", "category", "difficulty"])]

    def __str__(self) -> str:
        return f"{self.key}: {self.text[:60]}"

    def grading_request(self, answer: str) -> GradingRequest:
        return _grading_request(self, question=self.text, answer=answer)


class Evaluation(models.Model):
    """One grading request and what came of it: the request snapshot, the grade and how it was made."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Source(models.TextChoices):
        LLM = "llm", _("LLM")
        HEURISTIC = "heuristic"

    question = models.ForeignKey(Question, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations")
    question_text = models.TextField()
    answer = models.TextField()
    expected_concepts = models.JSONField(default=list, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    difficulty = models.CharField(max_length=10, choices=Difficulty.choices)
    role = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default="es")
    requested_model = models.CharField(max_length=200, blank=True, help_text=_("The model the caller asked for."))

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=10, choices=Source.choices, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text=_("The model that produced the grade."))
    prompt_version = models.CharField(max_length=40, blank=True)
    temperature = models.FloatField(default=0.0)
    cache_key = models.CharField(max_length=64, blank=True)
    from_cache = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    # Calibration (training/calibration.py): `score` and `result` are calibrated when `calibration` is set;
    # the grader's own score and grade stay here (`raw_result` only when it differs from `result`).
    raw_score = models.FloatField(null=True, blank=True, help_text=_("The grader's own score, before calibration."))
    raw_result = models.JSONField(null=True, blank=True, help_text=_("The grader's own grade, when calibrated."))
    calibration = models.ForeignKey(
        "training.Calibration", null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations"
    )
    raw_output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The job lifecycle's fields (ready4hire/jobs.py); `attempts` above counts LLM calls, not claims.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    job_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["cache_key", "finished_at"], name="evaluation_cache_idx"),
            models.Index(fields=["status", "created_at"], name="evaluation_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Evaluation #{self.pk} ({self.status}, score {self.score})"

    def grading_request(self) -> GradingRequest:
        return _grading_request(self, question=self.question_text, answer=self.answer)


def validate_rate_limit(value: str) -> None:
    from ready4hire.ratelimit import rate_limits_parse

    try:
        rate_limits_parse(value)
    except ValueError:
        raise ValidationError(
            _("Write a rate like '120/m', '10/second' or '10/s;1000/h'."), code="invalid_rate_limit"
        ) from None


def default_scopes() -> list[str]:
    """A key made without scopes may only grade: the interview front end's key must not train or curate."""
    return ["grade"]


class ApiKey(models.Model):
    """A key for API consumers. Only its SHA-256 is stored; the key itself is shown once, at creation."""

    PREFIX = "r4h_"

    class Scope(models.TextChoices):
        # What each scope reaches is declared on the API's routers (evaluation.auth.scoped); `admin` is all.
        GRADE = "grade", _("grade: POST and GET evaluations")
        REVIEW = "review", _("review: the review queue, examples and reviews")
        CURATE = "curate", _("curate: collection settings, imports, dataset exports, statistics")
        TRAIN = "train", _("train: Modelfiles, Ollama models, fine-tune runs, model versions, comparisons")
        ADMIN = "admin", _("admin: everything above")

    name = models.CharField(max_length=100, unique=True)
    key_prefix = models.CharField(max_length=12, help_text=_("The first characters, to recognise a key."))
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(
        default=default_scopes,
        blank=True,
        help_text=_("What the key may do: grade, review, curate, train and/or admin."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text=_("The person the key acts for: their reviews are attributed to them. Empty: a program."),
    )
    is_active = models.BooleanField(default=True)
    rate_limit = models.CharField(
        max_length=60,
        blank=True,
        validators=[validate_rate_limit],
        help_text=_("Requests allowed to this key, e.g. '600/m' or '10/s;5000/h'. Empty: API_RATE_LIMIT."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or self.Scope.ADMIN in self.scopes

    @staticmethod
    def hash_key(raw_key: str) -> str:
        # Keys are 256-bit random tokens, so a plain SHA-256 is enough; a slow password hash would only
        # slow every API call.
        return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()

    @classmethod
    def generate_raw_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)


class RateLimitWindow(models.Model):
    """A rate limit's count in its current window, where the limiter keeps it without Redis
    (ready4hire/ratelimit.py): one row per key and limit, shared by every web process."""

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.count} until {self.expires_at:%H:%M:%S}"


# What a question and an evaluation both carry, under the same names, into a grading request.
_GRADING_FIELDS = ("expected_concepts", "keywords", "category", "difficulty", "role", "language")


def _grading_request(row: models.Model, *, question: str, answer: str) -> GradingRequest:
    return GradingRequest.normalised(
        question=question, answer=answer, **{name: getattr(row, name) for name in _GRADING_FIELDS}
    )
