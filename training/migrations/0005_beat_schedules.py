"""Beat's one schedule mechanism is django-celery-beat rows, editable in the admin.

The periodic export's row follows its task to the name Celery now gives it (its module path), and
retraining on schedule, until now an entry of CELERY_BEAT_SCHEDULE added when FINETUNE_SCHEDULE_ENABLED,
gets a row too, on the training queue: FINETUNE_SCHEDULE_INTERVAL_MINUTES seeds its interval, and the task
still does nothing while the setting is off.
"""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

OLD_EXPORT_TASK = "training.tasks.export_dataset_if_due_task"
EXPORT_TASK = "training.tasks.exports.export_dataset_if_due_task"
RETRAIN_NAME = "Retrain when the newest export has enough new examples"
RETRAIN_TASK = "training.tasks.finetune.finetune_if_due_task"


def _schedule_changed(apps):
    # Historical models skip PeriodicTask.save(), which would tell a running beat to reload its schedule.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task=OLD_EXPORT_TASK).update(task=EXPORT_TASK)
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=max(settings.FINETUNE_SCHEDULE_INTERVAL_MINUTES, 1), period="minutes"
    )
    PeriodicTask.objects.get_or_create(
        name=RETRAIN_NAME,
        defaults={
            "task": RETRAIN_TASK,
            "interval": interval,
            "queue": "training",
            "description": "Starts a fine-tune run like the last one when FINETUNE_SCHEDULE_ENABLED and the newest "
            "export has at least FINETUNE_SCHEDULE_MIN_NEW_EXAMPLES more examples than the last run's.",
        },
    )
    _schedule_changed(apps)


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=RETRAIN_NAME).delete()
    PeriodicTask.objects.filter(task=EXPORT_TASK).update(task=OLD_EXPORT_TASK)
    _schedule_changed(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0004_exports_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
