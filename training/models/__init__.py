from .collection import CollectionSettings
from .examples import TrainingExample
from .runs import (
    ComparisonItem,
    ComparisonRun,
    DatasetExport,
    FineTuneRun,
    JobStatus,
    Modelfile,
    ModelVersion,
)

__all__ = [
    "CollectionSettings",
    "ComparisonItem",
    "ComparisonRun",
    "DatasetExport",
    "FineTuneRun",
    "JobStatus",
    "ModelVersion",
    "Modelfile",
    "TrainingExample",
]
