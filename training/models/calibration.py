"""Calibrations: fitted monotone maps from a grader's raw score to the human scale, per grader and category,
versioned, with how much each one helps, measured by cross-validation; at most one is active per pair."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from evaluation.choices import Category


class Calibration(models.Model):
    """One fit of a grader's raw scores against the reviewers' scores (see `training.calibration`)."""

    class Trigger(models.TextChoices):
        COMMAND = "command", _("Management command")
        API = "api", _("API")
        ADMIN = "admin", _("Admin")
        SCHEDULE = "schedule", _("Schedule (enough new reviews)")

    grader = models.CharField(
        max_length=200, help_text=_("The model whose scores it maps: the name grades and training examples carry.")
    )
    category = models.CharField(
        max_length=20, choices=Category.choices, blank=True, help_text=_("Empty: every category.")
    )
    version = models.PositiveIntegerField(help_text=_("v1, v2, … per grader and category."))
    examples = models.PositiveIntegerField(help_text=_("Reviewed examples it was fitted on."))
    knots = models.JSONField(default=list, help_text=_("The fitted map as [raw, calibrated] points, ascending."))
    folds = models.PositiveSmallIntegerField(default=5, help_text=_("Cross-validation folds of the figures below."))
    mae_before = models.FloatField(_("MAE before"), null=True, blank=True, help_text=_("Raw scores vs. the humans."))
    mae_after = models.FloatField(
        _("MAE after"),
        null=True,
        blank=True,
        help_text=_("Calibrated scores vs. the humans, each fold calibrated by the others."),
    )
    qwk_before = models.FloatField(_("QWK before"), null=True, blank=True)
    qwk_after = models.FloatField(_("QWK after"), null=True, blank=True)
    msd_before = models.FloatField(
        _("mean signed difference before"),
        null=True,
        blank=True,
        help_text=_("Mean signed difference: + lenient, − harsh."),
    )
    msd_after = models.FloatField(_("mean signed difference after"), null=True, blank=True)
    reliability = models.JSONField(
        default=dict, blank=True, help_text=_("{before, after}: [mean score, mean human score, count] per rating.")
    )
    active = models.BooleanField(default=False, help_text=_("Applied to new grades of this grader and category."))
    note = models.TextField(blank=True, help_text=_("Why it is not active, when it is not."))
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.COMMAND)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["grader", "category", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["grader", "category", "version"], name="calibration_version_unique"),
            models.UniqueConstraint(
                fields=["grader", "category"], condition=models.Q(active=True), name="one_active_calibration"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grader} {self.category or 'all'} v{self.version}{' (active)' if self.active else ''}"

    @property
    def category_label(self) -> str:
        return self.category or "all"
