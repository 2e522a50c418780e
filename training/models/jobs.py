"""What every long-running job stores on its row: its status, progress, error, who asked for it, and what the
job lifecycle (ready4hire/jobs.py) keeps: whether it was dispatched, its attempts and its heartbeat."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Job(models.Model):
    """Fields every long job shares: who asked, its state, its progress (0–100) and what went wrong."""

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text=_("Percent done."))
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_key = models.ForeignKey(
        "evaluation.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text=_("When the broker took its task."))
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text=_("Last sign of life of its worker."))
    job_attempts = models.PositiveSmallIntegerField(default=0, help_text=_("Times a worker claimed it."))

    class Meta:
        abstract = True
