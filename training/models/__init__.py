"""The training app's models, one module per area; every model is importable from `training.models`."""

from .calibration import Calibration
from .collection import CollectionSettings
from .comparisons import ComparisonItem, ComparisonRun
from .examples import TrainingExample
from .exports import DatasetExport
from .finetune import FineTuneRun
from .jobs import JobStatus
from .modelfiles import Modelfile
from .numbering import VersionCounter
from .reviews import Review
from .versions import ModelVersion

__all__ = [
    "Calibration",
    "CollectionSettings",
    "ComparisonItem",
    "ComparisonRun",
    "DatasetExport",
    "FineTuneRun",
    "JobStatus",
    "ModelVersion",
    "Modelfile",
    "Review",
    "TrainingExample",
    "VersionCounter",
]
