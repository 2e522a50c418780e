# The job lifecycle (ready4hire/jobs.py) on every job row: the outbox stamp, the heartbeat, the claim count and
# the cancelled status; and which job a Modelfile row has queued, so the sweeper can send it again.

from django.db import migrations, models

STATUS_CHOICES = [
    ("pending", "Pending"),
    ("running", "Running"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0009_version_counters"),
    ]

    operations = [
        migrations.AddField(
            model_name="comparisonrun",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, help_text="When the broker took its task.", null=True),
        ),
        migrations.AddField(
            model_name="comparisonrun",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, help_text="Last sign of life of its worker.", null=True),
        ),
        migrations.AddField(
            model_name="comparisonrun",
            name="job_attempts",
            field=models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed it."),
        ),
        migrations.AlterField(
            model_name="comparisonrun",
            name="status",
            field=models.CharField(choices=STATUS_CHOICES, default="pending", max_length=10),
        ),
        migrations.AddField(
            model_name="datasetexport",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, help_text="When the broker took its task.", null=True),
        ),
        migrations.AddField(
            model_name="datasetexport",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, help_text="Last sign of life of its worker.", null=True),
        ),
        migrations.AddField(
            model_name="datasetexport",
            name="job_attempts",
            field=models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed it."),
        ),
        migrations.AlterField(
            model_name="datasetexport",
            name="status",
            field=models.CharField(choices=STATUS_CHOICES, default="pending", max_length=10),
        ),
        migrations.AddField(
            model_name="finetunerun",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, help_text="When the broker took its task.", null=True),
        ),
        migrations.AddField(
            model_name="finetunerun",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, help_text="Last sign of life of its worker.", null=True),
        ),
        migrations.AddField(
            model_name="finetunerun",
            name="job_attempts",
            field=models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed it."),
        ),
        migrations.AlterField(
            model_name="finetunerun",
            name="status",
            field=models.CharField(choices=STATUS_CHOICES, default="pending", max_length=10),
        ),
        migrations.AddField(
            model_name="modelfile",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, help_text="When the broker took its task.", null=True),
        ),
        migrations.AddField(
            model_name="modelfile",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, help_text="Last sign of life of its worker.", null=True),
        ),
        migrations.AddField(
            model_name="modelfile",
            name="job_attempts",
            field=models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed it."),
        ),
        migrations.AlterField(
            model_name="modelfile",
            name="status",
            field=models.CharField(choices=STATUS_CHOICES, default="pending", max_length=10),
        ),
        migrations.AddField(
            model_name="modelfile",
            name="queued_task",
            field=models.CharField(
                blank=True, help_text="The job queued on the row: push, push_validate or validate.", max_length=16
            ),
        ),
    ]
