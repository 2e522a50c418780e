"""Dataset exports: versioned, split snapshots of curated examples written as training files."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from evaluation.choices import PromptVariant

from .jobs import Job


class DatasetExport(Job):
    """One versioned export of curated examples: filters, split, counts and the files written."""

    class Format(models.TextChoices):
        ALPACA = "alpaca", _("Alpaca")
        SHAREGPT = "sharegpt", _("ShareGPT")
        MESSAGES = "messages", _("OpenAI messages")
        PREFERENCE = "preference", _("Preference pairs (DPO)")

    name = models.SlugField(max_length=100, default="ready4hire")
    version = models.PositiveIntegerField(help_text=_("1, 2, … per name."))
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.MESSAGES)
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("sources, review_statuses, min_score, categories, difficulties, languages."),
    )
    train_share = models.FloatField(default=0.8)
    seed = models.IntegerField(default=42)
    balance_categories = models.BooleanField(default=False)
    prompt_version = models.CharField(max_length=40, blank=True)
    prompt_variant = models.CharField(
        max_length=10,
        choices=PromptVariant.choices,
        default=PromptVariant.FULL,
        help_text=_("The system prompt written into every row: the full rubric and schema, or the compact one."),
    )
    train_count = models.PositiveIntegerField(default=0)
    val_count = models.PositiveIntegerField(default=0)
    counts = models.JSONField(
        default=dict, blank=True, help_text=_("by_category, by_difficulty, by_source, by_score_bucket, per split.")
    )
    files = models.JSONField(default=dict, blank=True, help_text=_("{train|val|manifest|...: {path, size, sha256}}"))
    scheduled = models.BooleanField(default=False, help_text=_("Started by the periodic export, not by a person."))
    warnings = models.JSONField(
        default=list, blank=True, help_text=_("What the export left out and the filter to change, one line each.")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="dataset_export_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.format})"
