"""The reviewers' admin through Django's test client: queue, actions, correction form, next, statistics."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse

from training.models import CollectionSettings, TrainingExample

from .factories import TrainingExampleFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:training_trainingexample_changelist")
STATISTICS = reverse("admin:training_trainingexample_statistics")


def change_url(example: TrainingExample) -> str:
    return reverse("admin:training_trainingexample_change", args=[example.pk])


def correction(example: TrainingExample, **changes) -> dict:
    """The change form's POST data as the browser sends it: the current label, with `changes` applied."""
    label = example.label
    data = {
        "corrected_score": label["score"],
        **label["breakdown"],
        "justification": label["justification"],
        "missing_concepts": "\r\n".join(label["missing_concepts"]),
        "note": "",
    }
    data.update(changes)
    return data


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_reviewers_group_may_view_and_change_examples_only():
    group = Group.objects.get(name="Reviewers")
    assert sorted(group.permissions.values_list("content_type__app_label", "codename")) == [
        ("training", "change_trainingexample"),
        ("training", "view_trainingexample"),
    ]


def test_the_queue_shows_pending_examples_newest_first(reviewer_client):
    older = TrainingExampleFactory(answer="older pending answer")
    newer = TrainingExampleFactory(answer="newer pending answer")
    TrainingExampleFactory(review_status="approved", answer="an approved answer")
    response = reviewer_client.get(CHANGELIST)
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == [newer, older]
    all_rows = reviewer_client.get(CHANGELIST + "?review_status=all").context["cl"].result_list
    assert len(all_rows) == 3


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        ("score_range=9-10", "excellent"),
        ("source__exact=human", "by a person"),
        ("category__exact=soft_skills", "teamwork"),
        ("difficulty__exact=senior", "senior answer"),
        ("review_status=rejected", "rejected one"),
        ("q=TEAMWORK", "teamwork"),
    ],
)
def test_queue_filters_and_search(reviewer_client, query, answer):
    TrainingExampleFactory(score=9.5, answer="excellent")
    TrainingExampleFactory(source="human", answer="by a person")
    TrainingExampleFactory(category="soft_skills", answer="teamwork")
    TrainingExampleFactory(difficulty="senior", answer="senior answer")
    TrainingExampleFactory(review_status="rejected", answer="rejected one")
    TrainingExampleFactory(score=5.0, answer="plain")
    rows = reviewer_client.get(f"{CHANGELIST}?{query}").context["cl"].result_list
    assert [row.answer for row in rows] == [answer]


def test_approve_action_goes_through_the_service_and_counts(reviewer_client, reviewer):
    pending = TrainingExampleFactory.create_batch(2)
    approved = TrainingExampleFactory(review_status="approved")
    rejected = TrainingExampleFactory(review_status="rejected")
    ids = [example.pk for example in (*pending, approved, rejected)]
    response = reviewer_client.post(
        CHANGELIST + "?review_status=all", {"action": "approve_selected", "_selected_action": ids}, follow=True
    )
    assert messages_of(response) == [
        "2 examples approved. 1 example was already approved.",
        f"1 example not approved: Example #{rejected.pk} was rejected, so it cannot be approved. "
        "Send it back to the review queue first.",
    ]
    statuses = dict(TrainingExample.objects.values_list("pk", "review_status"))
    assert [statuses[pk] for pk in ids] == ["approved", "approved", "approved", "rejected"]
    assert TrainingExample.objects.get(pk=pending[0].pk).reviewed_by == reviewer
    assert LogEntry.objects.filter(user=reviewer).count() == 2


def test_reject_action(reviewer_client):
    examples = TrainingExampleFactory.create_batch(3)
    response = reviewer_client.post(
        CHANGELIST, {"action": "reject_selected", "_selected_action": [e.pk for e in examples]}, follow=True
    )
    assert messages_of(response) == ["3 examples rejected."]
    assert set(TrainingExample.objects.values_list("review_status", flat=True)) == {"rejected"}


def test_send_back_action(reviewer_client):
    rejected = TrainingExampleFactory(review_status="rejected")
    pending = TrainingExampleFactory()
    response = reviewer_client.post(
        CHANGELIST + "?review_status=all",
        {"action": "reopen_selected", "_selected_action": [rejected.pk, pending.pk]},
        follow=True,
    )
    assert messages_of(response) == ["1 example sent back to the queue. 1 example was already pending."]
    assert TrainingExample.objects.get(pk=rejected.pk).review_status == "pending"


def test_a_reviewer_cannot_delete(reviewer_client):
    example = TrainingExampleFactory()
    response = reviewer_client.get(CHANGELIST)
    assert "delete_selected" not in dict(response.context["action_form"].fields["action"].choices)
    delete_url = reverse("admin:training_trainingexample_delete", args=[example.pk])
    assert reviewer_client.get(delete_url).status_code == 403
    assert reviewer_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert TrainingExample.objects.filter(pk=example.pk).exists()
    assert b"deletelink" not in reviewer_client.get(change_url(example)).content


def test_a_reviewer_sees_nothing_else_in_the_admin(reviewer_client):
    assert reviewer_client.get(reverse("admin:training_collectionsettings_changelist")).status_code == 403
    assert reviewer_client.get(reverse("admin:evaluation_evaluation_changelist")).status_code == 403
    assert reviewer_client.get(reverse("admin:auth_user_changelist")).status_code == 403
    index = reviewer_client.get(reverse("admin:index"))
    models = [model["object_name"] for app in index.context["app_list"] for model in app["models"]]
    assert models == ["TrainingExample"]


def test_the_change_page_shows_the_full_answer_and_the_machine_grade(reviewer_client):
    long_answer = "First line of a long answer.\n" + "word " * 400 + "THE-END"
    example = TrainingExampleFactory(answer=long_answer, expected_concepts=["B-tree", "write cost"])
    response = reviewer_client.get(change_url(example))
    content = response.content.decode()
    assert "THE-END" in content and "B-tree, write cost" in content
    machine_grade = response.context["adminform"].model_admin.machine_grade(example)
    assert 'class="r4h-grade"' in machine_grade and machine_grade in content
    assert f"{example.label['breakdown']['clarity']} / 2" in machine_grade
    form = response.context["adminform"].form
    assert form.initial["corrected_score"] == example.score
    assert "Approve and next" in content and "Reject and next" in content


def test_correcting_the_score_goes_through_example_correct(reviewer_client, reviewer):
    example = TrainingExampleFactory(score=4.0)
    machine_label = example.label
    response = reviewer_client.post(
        change_url(example),
        correction(example, corrected_score="8.5", note="Too harsh", _correct="Save correction"),
        follow=True,
    )
    assert messages_of(response) == [f"Corrected example #{example.pk} (score 8.5) and approved it."]
    example.refresh_from_db()
    assert example.score == 8.5 and example.source == "human" and example.review_status == "approved"
    assert example.original_label == machine_label and example.original_score == 4.0
    assert example.reviewed_by == reviewer and example.review_note == "Too harsh"
    entry = LogEntry.objects.get(object_id=str(example.pk))
    assert entry.user == reviewer and entry.change_message.startswith("Corrected (score 4 → 8.5")


def test_an_unchanged_form_with_crlf_line_ends_is_not_a_correction(reviewer_client):
    example = TrainingExampleFactory(score=6.0)
    example.label["missing_concepts"] = ["write cost", "covering index"]
    example.save()
    response = reviewer_client.post(change_url(example), correction(example, _correct="Save correction"))
    assert response.status_code == 200
    assert "Nothing to save" in str(response.context["adminform"].form.non_field_errors())
    example.refresh_from_db()
    assert example.review_status == "pending" and example.original_label is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"corrected_score": "11"}, "corrected_score", "less than or equal to 10"),
        ({"corrected_score": "-0.5"}, "corrected_score", "greater than or equal to 0"),
        ({"corrected_score": "high"}, "corrected_score", "Enter a number"),
        ({"clarity": "2.5"}, "clarity", "less than or equal to 2"),
        ({"completeness": ""}, None, "Give every part of the breakdown"),
    ],
)
def test_correction_form_validation(reviewer_client, changes, field, message):
    example = TrainingExampleFactory()
    before = TrainingExample.objects.values().get(pk=example.pk)
    response = reviewer_client.post(change_url(example), correction(example, **changes, _correct="Save correction"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    errors = form.errors[field] if field else form.non_field_errors()
    assert message in " ".join(errors)
    assert TrainingExample.objects.values().get(pk=example.pk) == before


def test_approve_and_next_moves_down_the_queue(reviewer_client):
    oldest, middle, newest = TrainingExampleFactory.create_batch(3)
    TrainingExampleFactory(review_status="approved")
    response = reviewer_client.post(change_url(newest), correction(newest, _approve_next="Approve and next"))
    assert response.status_code == 302 and response.url == change_url(middle)
    newest.refresh_from_db()
    assert newest.review_status == "approved" and newest.source == "llm" and newest.original_label is None

    response = reviewer_client.post(change_url(middle), correction(middle, _reject_next="Reject and next"))
    assert response.url == change_url(oldest)
    assert TrainingExample.objects.get(pk=middle.pk).review_status == "rejected"

    response = reviewer_client.post(change_url(oldest), correction(oldest, _approve_next="x"), follow=True)
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "The review queue is empty. Well done!" in messages_of(response)


def test_approve_and_next_with_a_changed_score_corrects(reviewer_client):
    first, second = TrainingExampleFactory.create_batch(2)
    response = reviewer_client.post(change_url(second), correction(second, corrected_score="2", _approve_next="x"))
    assert response.url == change_url(first)
    second.refresh_from_db()
    assert second.score == 2.0 and second.source == "human" and second.review_status == "approved"


def test_reject_with_a_changed_grade_asks_to_decide(reviewer_client):
    example = TrainingExampleFactory()
    response = reviewer_client.post(change_url(example), correction(example, corrected_score="2", _reject_next="x"))
    assert response.status_code == 200
    assert "You changed the grade" in str(response.context["adminform"].form.non_field_errors())
    assert TrainingExample.objects.get(pk=example.pk).review_status == "pending"


def test_a_rejected_example_offers_only_send_back(reviewer_client):
    example = TrainingExampleFactory(review_status="rejected")
    content = reviewer_client.get(change_url(example)).content.decode()
    assert "Approve and next" not in content and "Send back to the review queue" in content
    assert "corrected_score" not in content
    # A stale page (rejected by someone else meanwhile) posting a correction is refused.
    response = reviewer_client.post(change_url(example), {"_approve_next": "x"})
    assert "was rejected" in str(response.context["adminform"].form.non_field_errors())
    reviewer_client.post(change_url(example), {"note": "Rejected by mistake", "_reopen": "x"})
    reopened = TrainingExample.objects.get(pk=example.pk)
    assert reopened.review_status == "pending" and reopened.review_note == "Rejected by mistake"


def test_a_staff_user_without_the_group_cannot_review(client, django_user_model):
    example = TrainingExampleFactory()
    client.force_login(django_user_model.objects.create_user(username="intern", is_staff=True))
    assert client.get(change_url(example)).status_code == 403
    assert client.post(change_url(example), correction(example, _approve_next="x")).status_code == 403
    assert client.get(STATISTICS).status_code == 403


def test_the_statistics_page(reviewer_client):
    TrainingExampleFactory(score=9.5)
    TrainingExampleFactory(score=4.0, category="soft_skills", review_status="approved")
    response = reviewer_client.get(STATISTICS)
    assert response.status_code == 200
    assert response.context["stats"]["total_examples"] == 2
    assert [row["count"] for row in response.context["histogram"]] == [0, 1, 0, 0, 1]
    content = response.content.decode()
    assert "50.0%" in content and "Score histogram" in content and "Collection is <strong>on</strong>" in content
    assert "Change the collection settings" not in content  # reviewers may not change them
    assert STATISTICS in reviewer_client.get(CHANGELIST).content.decode()


def test_collection_settings_in_the_admin(admin_client):
    response = admin_client.get(reverse("admin:training_collectionsettings_changelist"))
    settings_url = reverse("admin:training_collectionsettings_change", args=[CollectionSettings.SINGLETON_ID])
    assert response.status_code == 302 and response.url == settings_url
    review_settings = {"reviews_required": "1", "review_reservation_seconds": "600"}
    response = admin_client.post(
        settings_url,
        {
            "enabled": "on",
            "min_score_threshold": "6",
            "collect_llm": "on",
            "collect_heuristic": "on",
            **review_settings,
        },
    )
    assert response.status_code == 302
    saved = CollectionSettings.objects.get()
    assert saved.min_score_threshold == 6 and saved.sources == ["llm", "heuristic"]
    assert saved.updated_by.username == "admin"
    response = admin_client.post(settings_url, {"enabled": "on", "min_score_threshold": "12", **review_settings})
    assert response.status_code == 200 and CollectionSettings.objects.get().min_score_threshold == 6
    assert "Change the collection settings" in admin_client.get(STATISTICS).content.decode()


@pytest.mark.parametrize("query", ["score_range=11-12", "review_status=maybe"])
def test_unknown_filter_values_are_reported_not_crashing(reviewer_client, query):
    response = reviewer_client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 302 and response.url.endswith("?e=1")


def test_reviews_show_in_the_example_history(reviewer_client):
    example = TrainingExampleFactory()
    reviewer_client.post(
        change_url(example), correction(example, corrected_score="9", note="Better than graded", _correct="x")
    )
    history = reviewer_client.get(reverse("admin:training_trainingexample_history", args=[example.pk]))
    content = history.content.decode()
    assert "Corrected (score 6 → 9" in content and "Note: Better than graded" in content and "rita" in content
