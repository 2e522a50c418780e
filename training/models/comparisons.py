"""A/B comparisons: the run of two or more models on human-reviewed examples, and each grade it recorded."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .exports import DatasetExport
from .jobs import Job


class ComparisonRun(Job):
    """An A/B comparison: human-reviewed examples graded by two or more models, and the report."""

    name = models.CharField(max_length=200, blank=True)
    dataset_export = models.ForeignKey(
        DatasetExport, null=True, blank=True, on_delete=models.SET_NULL, related_name="comparisons"
    )
    split = models.CharField(max_length=5, default="val", help_text=_("train | val, with an export."))
    filters = models.JSONField(default=dict, blank=True, help_text=_("Example filters when no export is given."))
    contenders = models.JSONField(
        default=list,
        help_text=_("The models compared: [{label, ref, backend, base_url, model}]; the first is the base."),
    )
    repeats = models.PositiveSmallIntegerField(default=1)
    seed = models.IntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    gate = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Comparison #{self.pk} {self.name}".strip()


class ComparisonItem(models.Model):
    """One model's grade of one example in one repeat."""

    run = models.ForeignKey(ComparisonRun, on_delete=models.CASCADE, related_name="items")
    example = models.ForeignKey("training.TrainingExample", null=True, on_delete=models.SET_NULL, related_name="+")
    model_label = models.CharField(max_length=100)
    repeat = models.PositiveSmallIntegerField(default=0)
    human_score = models.FloatField()
    score = models.FloatField(null=True, blank=True)
    valid_json = models.BooleanField(default=False)
    schema_valid = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    raw_output = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "model_label", "example_id", "repeat"]
        constraints = [
            models.UniqueConstraint(fields=["run", "example", "model_label", "repeat"], name="comparison_item_unique")
        ]

    def __str__(self) -> str:
        return f"{self.model_label} on example {self.example_id} (repeat {self.repeat})"
