import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ready4hire.settings")

app = Celery("ready4hire")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
