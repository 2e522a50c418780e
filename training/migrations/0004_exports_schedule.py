"""The periodic dataset export, as a django-celery-beat PeriodicTask: beat's database scheduler runs it, and
the admin can change its interval or switch it off. The interval setting only seeds it here."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

TASK_NAME = "Export the dataset when enough new examples are approved"
TASK = "training.tasks.export_dataset_if_due_task"


def create_periodic_export(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=max(settings.DATASET_EXPORT_INTERVAL_MINUTES, 1), period="minutes"
    )
    _, created = PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": TASK,
            "interval": interval,
            "queue": "exports",
            "description": "Exports when at least DATASET_EXPORT_MIN_NEW_EXAMPLES examples were approved since "
            "the last export.",
        },
    )
    if created:
        # Historical models skip PeriodicTask.save(), which would tell a running beat to reload its schedule.
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_periodic_export(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0003_datasets_modelfiles_runs_versions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_periodic_export, delete_periodic_export)]
