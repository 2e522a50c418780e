"""Fine-tune runs in the admin: progress while they train, then metrics, outputs and the log. Runs are
started by the `finetune` command or the API and written by the service only, so every field is read-only."""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from ..models import FineTuneRun


def _pretty_json(value: object) -> str:
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


@admin.register(FineTuneRun)
class FineTuneRunAdmin(admin.ModelAdmin):
    list_display = ("id", "dataset_export", "method", "base_model", "status", "progress_shown", "loss", "created_at")
    list_filter = ("status", "method", "init_tiny", "backend")
    search_fields = ("base_model", "error", "output_dir")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("dataset_export", "base_model", "init_tiny", "method", "backend", "requested_by")}),
        ("Progress", {"fields": ("status", "progress_shown", "step", "max_steps", "epoch", "loss", "error")}),
        ("Results", {"fields": ("outputs_shown", "metrics_shown", "hyperparameters_shown", "output_dir")}),
        ("Log", {"fields": ("log_shown", "celery_task_id", "created_at", "started_at", "finished_at")}),
    )
    readonly_fields = (
        "dataset_export",
        "base_model",
        "init_tiny",
        "method",
        "backend",
        "requested_by",
        "status",
        "progress_shown",
        "step",
        "max_steps",
        "epoch",
        "loss",
        "error",
        "outputs_shown",
        "metrics_shown",
        "hyperparameters_shown",
        "output_dir",
        "log_shown",
        "celery_task_id",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("dataset_export", "requested_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started by `manage.py finetune` or POST /api/v1/finetune-runs

    def has_change_permission(self, request: HttpRequest, obj: FineTuneRun | None = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress_shown(self, run: FineTuneRun) -> str:
        steps = f" · step {run.step}/{run.max_steps}" if run.max_steps else ""
        return format_html("<progress max='100' value='{}'></progress> {}%{}", run.progress, run.progress, steps)

    @admin.display(description="outputs")
    def outputs_shown(self, run: FineTuneRun) -> str:
        if not run.outputs:
            return "–"
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td><code>{}</code></td></tr>", sorted(run.outputs.items())),
        )

    @admin.display(description="metrics")
    def metrics_shown(self, run: FineTuneRun) -> str:
        return _pretty_json(run.metrics) if run.metrics else "–"

    @admin.display(description="hyper-parameters")
    def hyperparameters_shown(self, run: FineTuneRun) -> str:
        return _pretty_json(run.hyperparameters)

    @admin.display(description="log")
    def log_shown(self, run: FineTuneRun) -> str:
        return format_html("<pre style='max-height: 30em; overflow: auto'>{}</pre>", run.log or "–")
