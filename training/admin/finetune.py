"""Fine-tune runs in the admin: progress while they train, then metrics, outputs and the log. Runs are
started by the `finetune` command or the API and written by the service only, so every field is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import FineTuneRun
from ..services.finetune import finetune_run_cancel
from .display import RUNNING, job_state, key_value_table, live, rows_table
from .jobs import cancel_action

# The metrics a person reads first, with their units; any other metric follows under its own name.
METRIC_LABELS = {
    "final_train_loss": gettext_lazy("Final training loss"),
    "mean_train_loss": gettext_lazy("Mean training loss"),
    "steps": gettext_lazy("Optimizer steps"),
    "epochs": gettext_lazy("Epochs"),
    "examples": gettext_lazy("Examples (too long: left out)"),
    "train_seconds": gettext_lazy("Training time (s)"),
    "train_tokens": gettext_lazy("Tokens trained on"),
    "tokens_per_second": gettext_lazy("Tokens per second"),
    "parameters": gettext_lazy("Parameters"),
}
# Shown in their own section from the row's fields, so left out of the metrics table.
RUNTIME_METRICS = ("device", "gpu_name", "precision", "processes", "peak_memory_mb", "peak_memory_measure")
LOSS_ROWS = 25  # the loss curves are sampled down to this many steps (always keeping the last)


def _loss_table(train: list[dict], val: list[dict]) -> str:
    """Training and validation loss by step, in one table."""
    by_step: dict[int, list[Any]] = {}
    for column, points in ((1, train), (2, val)):
        for point in points:
            row = by_step.setdefault(point["step"], [point.get("epoch"), None, None])
            row[column] = point.get("loss")
    steps = sorted(by_step)
    if len(steps) > LOSS_ROWS:
        stride = len(steps) / (LOSS_ROWS - 1)
        steps = sorted({steps[int(index * stride)] for index in range(LOSS_ROWS - 1)} | {steps[-1]})
    rows = [[step, *by_step[step]] for step in steps]
    return rows_table([_("step"), _("epoch"), _("training loss"), _("validation loss")], rows)


@admin.register(FineTuneRun)
class FineTuneRunAdmin(admin.ModelAdmin):
    actions = [cancel_action(lambda pk: finetune_run_cancel(run_id=pk))]
    # What fits at 1280 px; the base model (often a long path) and the outputs are on the change page.
    list_display = ("id", "dataset_export", "method", "state", "loss", "speed", "created_at")
    list_filter = ("status", "method", "init_tiny", "backend", "device")
    search_fields = ("base_model", "error", "output_dir")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("dataset_export", "base_model", "init_tiny", "method", "backend", "requested_by")}),
        (gettext_lazy("Progress"), {"fields": ("state", "progress_shown", "error")}),
        (
            gettext_lazy("Hardware and speed"),
            {"fields": ("device", "gpu_name", "precision", "processes", "tokens_per_second", "peak_memory")},
        ),
        (
            gettext_lazy("Results"),
            {"fields": ("outputs_shown", "metrics_shown", "hyperparameters_shown", "output_dir")},
        ),
        (gettext_lazy("Log"), {"fields": ("log_shown", "celery_task_id", "created_at", "started_at", "finished_at")}),
    )
    readonly_fields = (
        "dataset_export",
        "base_model",
        "init_tiny",
        "method",
        "backend",
        "requested_by",
        "state",
        "progress_shown",
        "error",
        "device",
        "gpu_name",
        "precision",
        "processes",
        "tokens_per_second",
        "peak_memory",
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

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def state(self, run: FineTuneRun) -> str:
        return job_state(
            run,
            detail=_("step %(step)s/%(steps)s") % {"step": run.step, "steps": run.max_steps} if run.max_steps else "",
        )

    @admin.display(description=gettext_lazy("Tokens/s"), ordering="tokens_per_second")
    def speed(self, run: FineTuneRun) -> str:
        """The run's training speed, with its device as the cell's title ('cuda bf16 ×4': four processes);
        the list filters by device, and the run's page has the GPU and the precision."""
        if run.tokens_per_second is None:
            return "–"
        processes = run.metrics.get("processes", 1)
        device = " ".join(filter(None, [run.device, run.precision, f"×{processes}" if processes > 1 else ""]))
        return format_html('<span title="{}">{}</span>', device, f"{run.tokens_per_second:,.0f}")

    @admin.display(description=gettext_lazy("Processes"))
    def processes(self, run: FineTuneRun) -> int | str:
        return run.metrics.get("processes", "–")

    @admin.display(description=gettext_lazy("Peak memory"))
    def peak_memory(self, run: FineTuneRun) -> str:
        if run.peak_memory_mb is None:
            return "–"
        measure = run.metrics.get("peak_memory_measure")
        return f"{run.peak_memory_mb:,.0f} MB" + (f" ({measure})" if measure else "")

    @admin.display(description=gettext_lazy("Training"))
    def progress_shown(self, run: FineTuneRun) -> str:
        figures = {
            _("step"): _("%(step)s of %(steps)s") % {"step": run.step, "steps": run.max_steps or "?"},
            _("epoch"): f"{run.epoch:.2f}",
            _("loss"): run.loss,
        }
        return live(run, "progress", key_value_table(figures), running=run.status in RUNNING)

    @admin.display(description=gettext_lazy("outputs"))
    def outputs_shown(self, run: FineTuneRun) -> str:
        if not run.outputs:
            return "–"
        return key_value_table(dict(sorted(run.outputs.items())))

    @admin.display(description=gettext_lazy("metrics"))
    def metrics_shown(self, run: FineTuneRun) -> str:
        if not run.metrics:
            return "–"
        metrics: dict[str, Any] = {k: v for k, v in run.metrics.items() if k not in RUNTIME_METRICS}
        train, val = metrics.pop("train_loss", None) or [], metrics.pop("eval_loss", None) or []
        ordered = {key: metrics.pop(key) for key in METRIC_LABELS if key in metrics} | metrics
        table = key_value_table(ordered, labels=METRIC_LABELS)
        if not (train or val):
            return table
        return format_html("{}<p><strong>{}</strong></p>{}", table, _("Loss by step"), _loss_table(train, val))

    @admin.display(description=gettext_lazy("hyper-parameters"))
    def hyperparameters_shown(self, run: FineTuneRun) -> str:
        return key_value_table(run.hyperparameters)

    @admin.display(description=gettext_lazy("log"))
    def log_shown(self, run: FineTuneRun) -> str:
        return format_html('<pre class="r4h-pre">{}</pre>', run.log or "–")
