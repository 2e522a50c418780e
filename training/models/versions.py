"""Model versions: the grader models we can serve, where they came from, and which one is active."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from evaluation.choices import PromptVariant

from .exports import DatasetExport
from .finetune import FineTuneRun
from .modelfiles import Modelfile


class ModelVersion(models.Model):
    """A grader model we can serve: v1, v2, … per name, with where it came from and whether it is active."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        CREATED = "created", _("Created on the server")
        VALIDATED = "validated", _("Validated")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    class Kind(models.TextChoices):
        FINETUNED = "finetuned", _("Fine-tuned")
        BASE = "base", _("Base (starting point)")

    class Category(models.TextChoices):
        ALL = "all", _("All categories")
        TECHNICAL = "technical", _("Technical")
        SOFT_SKILLS = "soft_skills", _("Soft skills")

    name = models.SlugField(max_length=100, default="ready4hire")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FINETUNED)
    base_model = models.CharField(max_length=500, blank=True)
    run = models.ForeignKey(FineTuneRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="versions")
    dataset_export = models.ForeignKey(
        DatasetExport, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    origin = models.CharField(
        max_length=600,
        blank=True,
        help_text=_("For a model trained elsewhere: what it was registered from (GGUF file, HF folder, Ollama model)."),
    )
    prompt_variant = models.CharField(
        max_length=10,
        choices=PromptVariant.choices,
        default=PromptVariant.FULL,
        help_text=_("The system prompt this version was trained with; the Modelfile, router and comparisons send it."),
    )
    served_name = models.CharField(max_length=200, blank=True, help_text=_("The model's name on the LLM server."))
    gguf_path = models.CharField(_("GGUF path"), max_length=500, blank=True)
    modelfile = models.ForeignKey(Modelfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.ALL)
    validation = models.JSONField(default=dict, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    promotion_forced = models.BooleanField(default=False, help_text=_("Promoted although it failed the gate."))
    promotion_note = models.TextField(blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique"),
            models.UniqueConstraint(
                fields=["category"], condition=models.Q(status="active"), name="one_active_version_per_category"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}:v{self.version}"

    @property
    def reference(self) -> str:
        return f"{self.name}:v{self.version}"
