"""Read-side queries of the training app, one module per area; import them from here."""

from ..exports.filters import MIN_SCORE_HELP, ExportFilters
from .comparisons import (
    comparison_gate_for_version,
    comparison_get,
    comparison_list,
    comparison_points,
    export_split_example_ids,
)
from .examples import (
    SCORE_BUCKETS,
    UNSPECIFIED,
    collection_settings_get,
    example_get,
    example_list,
    example_next_in_queue,
    score_bucket_q,
    training_stats,
)
from .exports import (
    EXPORT_FILES,
    dataset_export_file_path,
    dataset_export_get,
    dataset_export_list,
    dataset_export_paths,
    dataset_preview,
    export_examples,
)
from .finetune import finetune_run_get, finetune_run_list
from .modelfiles import (
    dataset_export_newest_finished,
    modelfile_get,
    modelfile_list,
    modelfile_newest_named,
)
from .queue import (
    ORDERS,
    ReviewQueue,
    review_queue,
    review_queue_examples,
    review_queue_next,
    review_queue_previous,
    review_queue_progress,
    review_queue_remaining,
)
from .versions import (
    ModelReference,
    model_for_category,
    model_reference_resolve,
    model_version_get,
    model_version_get_by_reference,
    model_version_list,
)

__all__ = [
    "SCORE_BUCKETS",
    "UNSPECIFIED",
    "collection_settings_get",
    "example_get",
    "example_list",
    "example_next_in_queue",
    "score_bucket_q",
    "training_stats",
    "ORDERS",
    "ReviewQueue",
    "review_queue",
    "review_queue_examples",
    "review_queue_next",
    "review_queue_previous",
    "review_queue_progress",
    "review_queue_remaining",
    "EXPORT_FILES",
    "MIN_SCORE_HELP",
    "ExportFilters",
    "dataset_export_file_path",
    "dataset_export_get",
    "dataset_export_list",
    "dataset_export_paths",
    "dataset_preview",
    "export_examples",
    "comparison_gate_for_version",
    "comparison_get",
    "comparison_list",
    "comparison_points",
    "export_split_example_ids",
    "ModelReference",
    "model_for_category",
    "model_reference_resolve",
    "model_version_get",
    "model_version_get_by_reference",
    "model_version_list",
    "dataset_export_newest_finished",
    "modelfile_get",
    "modelfile_list",
    "modelfile_newest_named",
    "finetune_run_get",
    "finetune_run_list",
]
