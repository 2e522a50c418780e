"""Beat runs the job sweeper every minute (ready4hire/jobs.py): it takes back the jobs whose worker died and
dispatches the ones the broker never took. A row on the `evaluation` queue, which every deployment serves."""

import importlib

from django.db import migrations

SWEEP_NAME = "Sweep jobs: take back stale ones, dispatch undispatched ones"
SWEEP_TASK = "ready4hire.tasks.jobs_sweep_task"
# Tells a running beat to reload its schedule, as migration 0005 does.
_schedule_changed = importlib.import_module("training.migrations.0005_beat_schedules")._schedule_changed


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=SWEEP_NAME,
        defaults={
            "task": SWEEP_TASK,
            "interval": every_minute,
            "queue": "evaluation",
            "description": "Re-queues running jobs whose heartbeat is stale (or fails them after their attempts) "
            "and dispatches pending jobs the broker never took.",
        },
    )
    _schedule_changed(apps)


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP_NAME).delete()
    _schedule_changed(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0010_job_lifecycle_fields"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
