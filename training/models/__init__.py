"""The training app's models, one module per area; every model is importable from `training.models`."""

from .collection import CollectionSettings
from .comparisons import ComparisonItem, ComparisonRun
from .examples import TrainingExample
from .exports import DatasetExport
from .finetune import FineTuneRun
from .jobs import JobStatus
from .modelfiles import Modelfile
from .versions import ModelVersion

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
