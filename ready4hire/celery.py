"""The Celery app: configured from Django's CELERY_* settings, finding each app's `tasks` module. Tasks name
their queue on their decorator; beat's schedule is django-celery-beat rows (CELERY_BEAT_SCHEDULER)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")

app = Celery("ready4hire")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
