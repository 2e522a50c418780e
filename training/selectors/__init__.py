"""Read-side queries of the training app, one module per area; import them from here."""

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

__all__ = [
    "SCORE_BUCKETS",
    "UNSPECIFIED",
    "collection_settings_get",
    "example_get",
    "example_list",
    "example_next_in_queue",
    "score_bucket_q",
    "training_stats",
]
