"""Fine-tune runs: supervised training on a dataset export, with live progress and outputs."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .exports import DatasetExport
from .jobs import Job


class FineTuneRun(Job):
    """A supervised fine-tuning run on an export, with its live progress and its outputs."""

    class Method(models.TextChoices):
        LORA = "lora", _("LoRA")
        QLORA = "qlora", _("QLoRA")
        FULL = "full", _("Full fine-tuning")
        DPO = "dpo", _("DPO (preference pairs, LoRA)")

    class Backend(models.TextChoices):
        TRL = "trl", _("TRL")
        UNSLOTH = "unsloth", _("Unsloth")

    dataset_export = models.ForeignKey(DatasetExport, on_delete=models.PROTECT, related_name="finetune_runs")
    base_model = models.CharField(
        max_length=500,
        help_text=_(
            "A local model directory, or a Hugging Face hub id (org/name[@revision]) fetched before the run is stored."
        ),
    )
    init_tiny = models.BooleanField(default=False, help_text=_("Start from a tiny random-initialised model."))
    method = models.CharField(max_length=5, choices=Method.choices, default=Method.LORA)
    backend = models.CharField(max_length=10, choices=Backend.choices, default=Backend.TRL)
    hyperparameters = models.JSONField(default=dict, blank=True)
    step = models.PositiveIntegerField(default=0)
    max_steps = models.PositiveIntegerField(default=0)
    epoch = models.FloatField(default=0)
    loss = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text=_("Training and validation loss per logged step."))
    output_dir = models.CharField(max_length=500, blank=True)
    outputs = models.JSONField(default=dict, blank=True, help_text=_("adapter, merged, gguf, modelfile paths."))
    # What the run ran on and how fast: filled in when training starts (device, GPU, precision) and ends.
    device = models.CharField(max_length=20, blank=True, help_text=_("cpu, cuda or mps."))
    gpu_name = models.CharField(
        _("GPU"), max_length=200, blank=True, help_text=_("The GPU model(s), when trained on a GPU.")
    )
    precision = models.CharField(max_length=10, blank=True, help_text=_("fp32, fp16, bf16 or 4bit (QLoRA)."))
    tokens_per_second = models.FloatField(null=True, blank=True, help_text=_("Training tokens per second."))
    peak_memory_mb = models.FloatField(
        _("peak memory (MB)"),
        null=True,
        blank=True,
        help_text=_("Peak memory: the GPU's allocator on a GPU, the process's RSS on a CPU."),
    )
    log = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Fine-tune #{self.pk} ({self.method}, {self.status})"
