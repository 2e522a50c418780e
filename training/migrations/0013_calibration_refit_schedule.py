"""Beat refits calibrations every hour when enough new reviews arrived (training/tasks/calibration.py). A row
on the `evaluation` queue, which every deployment serves; disable it in the admin to keep calibrations manual."""

import importlib

from django.db import migrations

REFIT_NAME = "Refit calibrations with enough new reviews"
REFIT_TASK = "training.tasks.calibration.calibration_refit_if_due_task"
# Tells a running beat to reload its schedule, as migration 0005 does.
_schedule_changed = importlib.import_module("training.migrations.0005_beat_schedules")._schedule_changed


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=60, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=REFIT_NAME,
        defaults={
            "task": REFIT_TASK,
            "interval": hourly,
            "queue": "evaluation",
            "description": "Fits each grader's calibration once it has CALIBRATION_MIN_EXAMPLES reviewed examples, "
            "and again whenever CALIBRATION_REFIT_MIN_NEW_REVIEWS more arrived; a fit that does not lower the "
            "cross-validated MAE is stored but not applied.",
        },
    )
    _schedule_changed(apps)


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=REFIT_NAME).delete()
    _schedule_changed(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0012_calibrations"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
