"""Celery tasks of the training app, one module per area. Celery's autodiscovery imports this package, so
every area module is imported here."""

from . import modelfiles  # noqa: F401  (registers the Modelfile push and validation tasks)
from .calibration import calibration_refit_if_due_task  # noqa: F401  (registers it)
from .comparisons import comparison_run_task  # noqa: F401  (registers it)
from .exports import export_dataset_if_due_task, export_dataset_task  # noqa: F401  (registers them)
from .finetune import finetune_if_due_task, finetune_run_task  # noqa: F401  (registers them)
