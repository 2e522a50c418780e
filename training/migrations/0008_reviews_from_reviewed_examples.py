"""Data: every example reviewed before reviews had rows of their own gets one Review row for its decision.

The demo's automatic approvals (no person and no key recorded, the demo's note) become automatic reviews and
are marked `decided_automatically`, so the statistics stop counting them as human-reviewed.
"""

from django.db import migrations

DEMO_NOTE_PREFIX = "demo:"


def reviews_from_examples(apps, schema_editor):
    TrainingExample = apps.get_model("training", "TrainingExample")
    Review = apps.get_model("training", "Review")
    decided = TrainingExample.objects.exclude(review_status="pending").filter(reviews__isnull=True).order_by("pk")
    batch = []
    for example in decided.iterator(chunk_size=1000):
        automatic = (
            example.reviewed_by_id is None
            and example.reviewed_by_key_id is None
            and example.review_note.startswith(DEMO_NOTE_PREFIX)
        )
        if example.review_status == "rejected":
            action = "reject"
        else:
            action = "correct" if example.original_label is not None else "approve"
        batch.append(
            Review(
                example_id=example.pk,
                reviewer_id=example.reviewed_by_id,
                api_key_id=example.reviewed_by_key_id,
                kind="automatic" if automatic else "review",
                action=action,
                score=None if action == "reject" else example.score,
                breakdown=None if action == "reject" else (example.label or {}).get("breakdown"),
                label=example.label if action == "correct" else None,
                note=example.review_note,
                version_after=1,
                created_at=example.reviewed_at or example.created_at,
            )
        )
        if len(batch) >= 1000:
            Review.objects.bulk_create(batch)
            batch = []
    Review.objects.bulk_create(batch)
    TrainingExample.objects.exclude(review_status="pending").update(version=1)
    TrainingExample.objects.filter(
        review_status="approved",
        reviewed_by__isnull=True,
        reviewed_by_key__isnull=True,
        review_note__startswith=DEMO_NOTE_PREFIX,
    ).update(decided_automatically=True)


class Migration(migrations.Migration):
    dependencies = [("training", "0007_review_rows_opinions_reservations")]

    operations = [migrations.RunPython(reviews_from_examples, migrations.RunPython.noop)]
