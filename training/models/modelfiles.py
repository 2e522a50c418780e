"""Ollama Modelfiles we built, with the outcome of their push and validation."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .exports import DatasetExport
from .jobs import Job


class Modelfile(Job):
    """An Ollama Modelfile we built: its inputs, the rendered text, and whether it was pushed and validated.

    `status`/`progress` track the build-push-validate job; the push and validation outcomes are kept apart.
    """

    class PushStatus(models.TextChoices):
        NOT_PUSHED = "not_pushed", _("Not pushed")
        PUSHED = "pushed", _("Pushed")
        FAILED = "failed", _("Failed")

    class ValidationStatus(models.TextChoices):
        NOT_RUN = "not_run", _("Not run")
        PASSED = "passed", _("Passed")
        FAILED = "failed", _("Failed")

    name = models.CharField(max_length=200, help_text=_("The model name on the Ollama server, e.g. ready4hire:v1."))
    base = models.CharField(
        max_length=500, help_text=_("FROM: an Ollama model name, a GGUF file or a safetensors dir.")
    )
    adapter = models.CharField(max_length=500, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    system = models.TextField(blank=True, help_text=_("Empty: the grading instructions of the current prompt version."))
    template = models.TextField(blank=True)
    license = models.TextField(blank=True)
    dataset_export = models.ForeignKey(
        DatasetExport,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="modelfiles",
        help_text=_("Where the few-shot MESSAGE pairs come from."),
    )
    few_shot = models.PositiveSmallIntegerField(default=0)
    language = models.CharField(max_length=2, default="es")
    prompt_version = models.CharField(max_length=40, blank=True)
    content = models.TextField(blank=True, help_text=_("The rendered Modelfile."))
    push_status = models.CharField(max_length=12, choices=PushStatus.choices, default=PushStatus.NOT_PUSHED)
    pushed_at = models.DateTimeField(null=True, blank=True)
    validation_status = models.CharField(
        max_length=10, choices=ValidationStatus.choices, default=ValidationStatus.NOT_RUN
    )
    validation = models.JSONField(default=dict, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    queued_task = models.CharField(
        max_length=16, blank=True, help_text=_("The job queued on the row: push, push_validate or validate.")
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Modelfile {self.name}"
