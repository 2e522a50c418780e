"""Long-running jobs with status and progress on their row: dataset exports, fine-tune runs, comparisons."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Job(models.Model):
    """Fields every long job shares: who asked, its state, its progress (0–100) and what went wrong."""

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
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

    class Meta:
        abstract = True


class DatasetExport(Job):
    """One versioned export of curated examples: filters, split, counts and the files written."""

    class Format(models.TextChoices):
        ALPACA = "alpaca", "Alpaca"
        SHAREGPT = "sharegpt", "ShareGPT"
        MESSAGES = "messages", "OpenAI messages"

    name = models.SlugField(max_length=100, default="ready4hire")
    version = models.PositiveIntegerField(help_text="1, 2, … per name.")
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.MESSAGES)
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text="sources, review_statuses, min_score, categories, difficulties, languages.",
    )
    train_share = models.FloatField(default=0.8)
    seed = models.IntegerField(default=42)
    balance_categories = models.BooleanField(default=False)
    prompt_version = models.CharField(max_length=40, blank=True)
    train_count = models.PositiveIntegerField(default=0)
    val_count = models.PositiveIntegerField(default=0)
    counts = models.JSONField(
        default=dict, blank=True, help_text="by_category, by_difficulty, by_source, by_score_bucket, per split."
    )
    files = models.JSONField(default=dict, blank=True, help_text="{train|val|manifest|...: {path, size, sha256}}")
    scheduled = models.BooleanField(default=False, help_text="Started by the periodic export, not by a person.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="dataset_export_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.format})"


class Modelfile(Job):
    """An Ollama Modelfile we built: its inputs, the rendered text, and whether it was pushed and validated.

    `status`/`progress` track the build-push-validate job; the push and validation outcomes are kept apart.
    """

    class PushStatus(models.TextChoices):
        NOT_PUSHED = "not_pushed", "Not pushed"
        PUSHED = "pushed", "Pushed"
        FAILED = "failed", "Failed"

    class ValidationStatus(models.TextChoices):
        NOT_RUN = "not_run", "Not run"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200, help_text="The model name on the Ollama server, e.g. ready4hire:v1.")
    base = models.CharField(max_length=500, help_text="FROM: an Ollama model name, a GGUF file or a safetensors dir.")
    adapter = models.CharField(max_length=500, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    system = models.TextField(blank=True, help_text="Empty: the grading instructions of the current prompt version.")
    template = models.TextField(blank=True)
    license = models.TextField(blank=True)
    dataset_export = models.ForeignKey(
        DatasetExport,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="modelfiles",
        help_text="Where the few-shot MESSAGE pairs come from.",
    )
    few_shot = models.PositiveSmallIntegerField(default=0)
    language = models.CharField(max_length=2, default="es")
    prompt_version = models.CharField(max_length=40, blank=True)
    content = models.TextField(blank=True, help_text="The rendered Modelfile.")
    push_status = models.CharField(max_length=12, choices=PushStatus.choices, default=PushStatus.NOT_PUSHED)
    pushed_at = models.DateTimeField(null=True, blank=True)
    validation_status = models.CharField(
        max_length=10, choices=ValidationStatus.choices, default=ValidationStatus.NOT_RUN
    )
    validation = models.JSONField(default=dict, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Modelfile {self.name}"


class FineTuneRun(Job):
    """A supervised fine-tuning run on an export, with its live progress and its outputs."""

    class Method(models.TextChoices):
        LORA = "lora", "LoRA"
        QLORA = "qlora", "QLoRA"
        FULL = "full", "Full fine-tuning"

    class Backend(models.TextChoices):
        TRL = "trl", "TRL"
        UNSLOTH = "unsloth", "Unsloth"

    dataset_export = models.ForeignKey(DatasetExport, on_delete=models.PROTECT, related_name="finetune_runs")
    base_model = models.CharField(
        max_length=500, help_text="A local model directory or a Hugging Face id already in the local cache."
    )
    init_tiny = models.BooleanField(default=False, help_text="Start from a tiny random-initialised model.")
    method = models.CharField(max_length=5, choices=Method.choices, default=Method.LORA)
    backend = models.CharField(max_length=10, choices=Backend.choices, default=Backend.TRL)
    hyperparameters = models.JSONField(default=dict, blank=True)
    step = models.PositiveIntegerField(default=0)
    max_steps = models.PositiveIntegerField(default=0)
    epoch = models.FloatField(default=0)
    loss = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Training and validation loss per logged step.")
    output_dir = models.CharField(max_length=500, blank=True)
    outputs = models.JSONField(default=dict, blank=True, help_text="adapter, merged, gguf, modelfile paths.")
    log = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Fine-tune #{self.pk} ({self.method}, {self.status})"


class ModelVersion(models.Model):
    """A grader model we can serve: v1, v2, … per name, with where it came from and whether it is active."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        CREATED = "created", "Created on the server"
        VALIDATED = "validated", "Validated"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class Kind(models.TextChoices):
        FINETUNED = "finetuned", "Fine-tuned"
        BASE = "base", "Base (starting point)"

    class Category(models.TextChoices):
        ALL = "all", "All categories"
        TECHNICAL = "technical", "Technical"
        SOFT_SKILLS = "soft_skills", "Soft skills"

    name = models.SlugField(max_length=100, default="ready4hire")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FINETUNED)
    base_model = models.CharField(max_length=500, blank=True)
    run = models.ForeignKey(FineTuneRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="versions")
    dataset_export = models.ForeignKey(
        DatasetExport, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    served_name = models.CharField(max_length=200, blank=True, help_text="The model's name on the LLM server.")
    gguf_path = models.CharField(max_length=500, blank=True)
    modelfile = models.ForeignKey(Modelfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.ALL)
    validation = models.JSONField(default=dict, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    promotion_forced = models.BooleanField(default=False, help_text="Promoted although it failed the gate.")
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


class ComparisonRun(Job):
    """An A/B comparison: human-reviewed examples graded by two or more models, and the report."""

    name = models.CharField(max_length=200, blank=True)
    dataset_export = models.ForeignKey(
        DatasetExport, null=True, blank=True, on_delete=models.SET_NULL, related_name="comparisons"
    )
    split = models.CharField(max_length=5, default="val", help_text="train | val, with an export.")
    filters = models.JSONField(default=dict, blank=True, help_text="Example filters when no export is given.")
    contenders = models.JSONField(
        default=list, help_text="The models compared: [{label, ref, backend, base_url, model}]; the first is the base."
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
