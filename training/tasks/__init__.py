"""Celery tasks of the training app, one module per area. Celery's autodiscovery imports this package, so
every area module is imported here."""
