"""Curation services: collection, review, and JSONL import / export. Services write; selectors read."""

from ..exports.plan import ExportPlan, export_plan
from .collection import (
    Collected,
    CollectResult,
    collection_settings_update,
    example_collect,
    example_collect_from_evaluation,
)
from .comparisons import (
    GateRules,
    GradedItem,
    comparison_create,
    comparison_create_and_run,
    comparison_fail,
    comparison_report,
    comparison_report_build,
    comparison_run,
)
from .exports import dataset_export_fail, dataset_export_if_due, dataset_export_run, dataset_export_submit
from .finetune import finetune_run_create, finetune_run_execute, finetune_run_fail
from .finetune_schedule import FinetuneDue, finetune_due_check, finetune_retrain_if_due
from .jsonl import ImportReport, example_record, examples_export_jsonl, examples_import
from .modelfile_jobs import modelfile_push_queue, modelfile_validate_queue
from .modelfile_push import PushResult, modelfile_push, modelfile_push_file
from .modelfile_validation import ValidationReport, model_validate, modelfile_validate, ollama_model_validate
from .modelfiles import (
    modelfile_build,
    modelfile_build_from_latest_export,
    modelfile_default_path,
    modelfile_parameters,
    parameter_assignments_parse,
)
from .ollama_models import (
    OllamaNotConfigured,
    OllamaRefused,
    OllamaUnavailable,
    ollama_model_delete,
    ollama_model_list,
    ollama_model_show,
)
from .review import (
    example_adjudicate,
    example_approve,
    example_correct,
    example_correction_label,
    example_reject,
    example_reopen,
    example_reserve,
    example_reserve_next,
    example_review,
    example_review_check,
    example_review_undo,
)
from .versions import (
    PromotionGateFailed,
    model_version_promote,
    model_version_register,
    model_version_retire,
)

__all__ = [
    "CollectResult",
    "Collected",
    "ImportReport",
    "collection_settings_update",
    "example_approve",
    "example_collect",
    "example_collect_from_evaluation",
    "example_correct",
    "example_correction_label",
    "example_record",
    "example_reject",
    "example_reopen",
    "example_review_check",
    "example_adjudicate",
    "example_reserve",
    "example_reserve_next",
    "example_review",
    "example_review_undo",
    "examples_export_jsonl",
    "examples_import",
    "model_version_register",
    "ExportPlan",
    "dataset_export_fail",
    "dataset_export_if_due",
    "dataset_export_run",
    "dataset_export_submit",
    "export_plan",
    "GateRules",
    "GradedItem",
    "comparison_create",
    "comparison_create_and_run",
    "comparison_fail",
    "comparison_report",
    "comparison_report_build",
    "comparison_run",
    "FinetuneDue",
    "PromotionGateFailed",
    "finetune_due_check",
    "model_version_promote",
    "model_version_retire",
    "OllamaNotConfigured",
    "OllamaRefused",
    "OllamaUnavailable",
    "PushResult",
    "ValidationReport",
    "model_validate",
    "modelfile_build",
    "modelfile_build_from_latest_export",
    "modelfile_default_path",
    "modelfile_parameters",
    "modelfile_push",
    "modelfile_push_file",
    "modelfile_push_queue",
    "modelfile_validate",
    "modelfile_validate_queue",
    "ollama_model_delete",
    "ollama_model_list",
    "ollama_model_show",
    "ollama_model_validate",
    "parameter_assignments_parse",
    "finetune_run_create",
    "finetune_run_execute",
    "finetune_run_fail",
    "finetune_retrain_if_due",
]
