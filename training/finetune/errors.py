"""Why a run cannot go on as configured: raised by the pipeline, recorded on the run by the service.

Kept free of heavy imports so the service can catch them without loading torch.
"""

from __future__ import annotations


class FineTuneError(RuntimeError):
    """A problem with the run's input or configuration (not a crash): the message says what to change."""


class DatasetFileError(FineTuneError, ValueError):
    """A dataset file that cannot be trained on; the message names the file and line."""


class TrainingError(FineTuneError):
    """The run cannot train as configured."""


class GGUFConversionError(FineTuneError):
    """The checkpoint cannot be turned into a GGUF file here; the message says why and what would do it."""
