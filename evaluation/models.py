"""The grading app's tables: the question catalogue, each evaluation (request, grade, how it was made) and
the API keys."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models

from .choices import Category, Difficulty, Language
from .llm.schema import GradingRequest


class Question(models.Model):
    """An interview question from the catalogue, with what a good answer should contain."""

    key = models.SlugField(max_length=120, unique=True, help_text="Stable identifier, e.g. 'py-gil-en'.")
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
        return GradingRequest.normalised(
            question=self.text,
            answer=answer,
            expected_concepts=self.expected_concepts,
            keywords=self.keywords,
            category=self.category,
            difficulty=self.difficulty,
            role=self.role,
            language=self.language,
        )


class Evaluation(models.Model):
    """One grading request and what came of it: the request snapshot, the grade and how it was made."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Source(models.TextChoices):
        LLM = "llm", "LLM"
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
    requested_model = models.CharField(max_length=200, blank=True, help_text="The model the caller asked for.")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=10, choices=Source.choices, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="The model that produced the grade.")
    prompt_version = models.CharField(max_length=40, blank=True)
    temperature = models.FloatField(default=0.0)
    cache_key = models.CharField(max_length=64, blank=True)
    from_cache = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    raw_output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["cache_key", "finished_at"], name="evaluation_cache_idx"),
            models.Index(fields=["status", "created_at"], name="evaluation_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Evaluation #{self.pk} ({self.status}, score {self.score})"

    def grading_request(self) -> GradingRequest:
        return GradingRequest.normalised(
            question=self.question_text,
            answer=self.answer,
            expected_concepts=self.expected_concepts,
            keywords=self.keywords,
            category=self.category,
            difficulty=self.difficulty,
            role=self.role,
            language=self.language,
        )


class ApiKey(models.Model):
    """A key for API consumers. Only its SHA-256 is stored; the key itself is shown once, at creation."""

    PREFIX = "r4h_"

    name = models.CharField(max_length=100, unique=True)
    key_prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(raw_key: str) -> str:
        # Keys are 256-bit random tokens, so a plain SHA-256 is enough; a slow password hash would only
        # slow every API call.
        return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()

    @classmethod
    def generate_raw_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)
