"""API schemas of the training app, one module per area; import them from here."""

from .comparisons import (
    ComparisonDetailOut,
    ComparisonFilters,
    ComparisonIn,
    ComparisonListFilters,
    ComparisonListOut,
    ComparisonOut,
    ContenderIn,
)
from .examples import (
    CORRECTION_FIELDS,
    CollectionSettingsIO,
    ExampleFilters,
    ExampleListOut,
    ExampleOut,
    ReviewIn,
    TrainingStatsOut,
)
from .exports import DatasetExportIn, DatasetExportListOut, DatasetExportListQuery, DatasetExportOut
from .finetune import FineTuneRunDetailOut, FineTuneRunIn, FineTuneRunListOut, FineTuneRunListQuery, FineTuneRunOut
from .modelfiles import (
    ModelfileIn,
    ModelfileListOut,
    ModelfileListQuery,
    ModelfileOut,
    ModelfilePushIn,
    ModelfileSummaryOut,
)
from .versions import ModelVersionFilters, ModelVersionOut, PromoteIn, RetireIn

__all__ = [
    "CORRECTION_FIELDS",
    "CollectionSettingsIO",
    "ExampleFilters",
    "ExampleListOut",
    "ExampleOut",
    "ReviewIn",
    "TrainingStatsOut",
    "ComparisonDetailOut",
    "ComparisonFilters",
    "ComparisonIn",
    "ComparisonListFilters",
    "ComparisonListOut",
    "ComparisonOut",
    "ContenderIn",
    "ModelVersionFilters",
    "ModelVersionOut",
    "PromoteIn",
    "RetireIn",
    "DatasetExportIn",
    "DatasetExportListOut",
    "DatasetExportListQuery",
    "DatasetExportOut",
    "ModelfileIn",
    "ModelfileListOut",
    "ModelfileListQuery",
    "ModelfileOut",
    "ModelfilePushIn",
    "ModelfileSummaryOut",
    "FineTuneRunDetailOut",
    "FineTuneRunIn",
    "FineTuneRunListOut",
    "FineTuneRunListQuery",
    "FineTuneRunOut",
]
