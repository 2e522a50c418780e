"""Curation services: collection, review, and JSONL import / export. Services write; selectors read."""

from .collection import (
    Collected,
    CollectResult,
    collection_settings_update,
    example_collect,
    example_collect_from_evaluation,
)
from .jsonl import ImportReport, example_record, examples_export_jsonl, examples_import
from .review import (
    example_approve,
    example_correct,
    example_correction_label,
    example_reject,
    example_reopen,
    example_review_check,
)
from .versions import model_version_register

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
    "examples_export_jsonl",
    "examples_import",
    "model_version_register",
]
