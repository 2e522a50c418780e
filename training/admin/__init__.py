"""Admin of the training app, one module per area; Django's autodiscovery imports this package."""

from . import examples  # noqa: F401  (registers the ModelAdmins)
