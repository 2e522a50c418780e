"""Admin of the training app, one module per area; Django's autodiscovery imports this package."""

from . import examples  # noqa: F401  (registers the ModelAdmins)
from .calibrations import CalibrationAdmin  # noqa: F401  (registers it)
from .comparisons import ComparisonRunAdmin  # noqa: F401  (registers it)
from .exports import DatasetExportAdmin  # noqa: F401  (registers it)
from .finetune import FineTuneRunAdmin  # noqa: F401  (registers it)
from .modelfiles import ModelfileAdmin  # noqa: F401  (registers it and the Ollama models pages)
from .versions import ModelVersionAdmin  # noqa: F401  (registers it)
