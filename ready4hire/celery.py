"""The Celery app: configured from Django's CELERY_* settings, finding each app's `tasks` module and the
project's own (the job sweeper). Tasks name their queue on their decorator (`queue_name`, routed by
CELERY_TASK_ROUTES); beat's schedule is django-celery-beat rows (CELERY_BEAT_SCHEDULER)."""

import os

from celery import Celery

# Connect their signal handlers: a request's id carried into its tasks' log lines; a worker's metrics port.
from . import logs, metrics  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")

app = Celery("ready4hire")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["ready4hire"])
