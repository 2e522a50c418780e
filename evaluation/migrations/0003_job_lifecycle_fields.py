# The job lifecycle (ready4hire/jobs.py) on evaluations: the outbox stamp, the heartbeat and the claim count.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evaluation", "0002_api_key_scopes_and_user"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluation",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evaluation",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evaluation",
            name="job_attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
