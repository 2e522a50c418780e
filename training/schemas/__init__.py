"""API schemas of the training app, one module per area; import them from here."""

from .examples import (
    CORRECTION_FIELDS,
    CollectionSettingsIO,
    ExampleFilters,
    ExampleListOut,
    ExampleOut,
    ReviewIn,
    TrainingStatsOut,
)

__all__ = [
    "CORRECTION_FIELDS",
    "CollectionSettingsIO",
    "ExampleFilters",
    "ExampleListOut",
    "ExampleOut",
    "ReviewIn",
    "TrainingStatsOut",
]
