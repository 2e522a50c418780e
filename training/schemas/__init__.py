"""API schemas of the training app, one module per area; import them from here.

Names follow one scheme: `XIn` request bodies, `XOut` responses, `XFilters` list query parameters (the
page and page size come from `ready4hire.pagination`)."""

from .comparisons import (
    ComparisonDetailOut,
    ComparisonExamplesIn,
    ComparisonFilters,
    ComparisonIn,
    ComparisonOut,
    ContenderIn,
)
from .examples import (
    CORRECTION_FIELDS,
    AgreementOut,
    CollectionSettingsIO,
    ExampleDetailOut,
    ExampleFilters,
    ExampleOut,
    QueueExampleOut,
    QueueFilters,
    ReviewIn,
    ReviewOut,
    TrainingStatsOut,
)
from .exports import DatasetExportFilters, DatasetExportIn, DatasetExportOut
from .finetune import FineTuneRunDetailOut, FineTuneRunFilters, FineTuneRunIn, FineTuneRunOut
from .modelfiles import ModelfileFilters, ModelfileIn, ModelfileOut, ModelfilePushIn, ModelfileSummaryOut
from .versions import ModelVersionFilters, ModelVersionOut, PromoteIn, RetireIn

__all__ = [
    "CORRECTION_FIELDS",
    "AgreementOut",
    "CollectionSettingsIO",
    "QueueExampleOut",
    "ExampleDetailOut",
    "QueueFilters",
    "ReviewOut",
    "ExampleFilters",
    "ExampleOut",
    "ReviewIn",
    "TrainingStatsOut",
    "ComparisonDetailOut",
    "ComparisonExamplesIn",
    "ComparisonFilters",
    "ComparisonIn",
    "ComparisonOut",
    "ContenderIn",
    "ModelVersionFilters",
    "ModelVersionOut",
    "PromoteIn",
    "RetireIn",
    "DatasetExportFilters",
    "DatasetExportIn",
    "DatasetExportOut",
    "ModelfileFilters",
    "ModelfileIn",
    "ModelfileOut",
    "ModelfilePushIn",
    "ModelfileSummaryOut",
    "FineTuneRunDetailOut",
    "FineTuneRunFilters",
    "FineTuneRunIn",
    "FineTuneRunOut",
]
