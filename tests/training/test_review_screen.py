"""The review screen through Django's test client: what it shows, one decision at a time in the reviewer's
queue, errors beside their fields, stale pages refused, undo, progress, and the screen in Spanish."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from training.models import Review, TrainingExample

from .review_examples import typical_example

pytestmark = pytest.mark.django_db

REVIEW = reverse("admin:training_trainingexample_review")
CATALOGUE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES"


def decision(example: TrainingExample, action: str, **changes) -> dict:
    """The screen's form as the browser posts it: the example's label in the boxes, then `changes`."""
    label = example.label
    data = {
        "example_id": example.pk,
        "expected_version": example.version,
        "seconds_spent": "12.5",
        "action": action,
        "score": label["score"],
        **label["breakdown"],
        "note": "",
    }
    data.update(changes)
    return data


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_screen_shows_everything_a_decision_needs(reviewer_client):
    example = typical_example(score=6.5)
    response = reviewer_client.get(REVIEW)
    assert response.status_code == 200 and response.context["example"] == example
    content = response.content.decode()
    assert example.question in content and example.answer in content
    marks = {mark["name"]: mark["state"] for mark in response.context["concepts"]}
    assert marks == {
        "B-tree": "covered",
        "full scan": "covered",
        "write cost": "covered",
        "selectivity": "missing",
        "query plan": "missing",
    }
    assert example.label["justification"] in content
    assert [(row["grader"], row["score"]) for row in response.context["opinions"]] == [
        ("llama3.2:3b", 6.5),
        ("heuristic-v2", 4.0),
        ("ready4hire:v1", 7.5),
    ]
    assert "Rubric: Technical" in content and "Uses and explains the expected concepts." in content
    for button, key in (("Approve", "a"), ("Correct score and approve", "c"), ("Reject", "r"), ("Undo", "u")):
        assert f'data-key="{key}">{button} <kbd>' in content or f'data-key="{key}" formnovalidate>↶ {button}' in content
    assert 'id="id_note"' in content and 'src="/static/training/review.js"' in content
    example.refresh_from_db()
    assert example.reserved_by is not None  # held for the reviewer while the page is open


def test_a_decision_moves_to_the_next_example_of_the_same_queue(reviewer_client, reviewer):
    older_english = typical_example(language="en", n=1)
    typical_example(language="es", n=2)
    newer_english = typical_example(language="en", n=3)
    typical_example(language="es", n=4)

    response = reviewer_client.get(REVIEW + "?language=en&order=newest")
    assert response.context["example"] == newer_english
    response = reviewer_client.post(
        REVIEW + "?language=en&order=newest", decision(newer_english, "approve", note="Fine")
    )
    assert response.status_code == 302
    assert response.url == f"{REVIEW}?language=en&order=newest&after={newer_english.pk}"
    following = reviewer_client.get(response.url)
    assert following.context["example"] == older_english
    assert messages_of(following) == [f"Approved example #{newer_english.pk}."]
    assert following.context["progress"] == {"reviewed": 1, "total": 2, "today": 1, "percent": 50}

    review = Review.objects.get(example=newer_english)
    assert review.reviewer == reviewer and review.action == "approve" and review.seconds_spent == 12.5
    assert TrainingExample.objects.get(pk=newer_english.pk).review_status == "approved"


def test_a_changed_score_is_a_correction_and_approves(reviewer_client):
    example = typical_example(score=6.5)
    response = reviewer_client.post(REVIEW, decision(example, "approve", score="8"))
    assert response.status_code == 302
    example.refresh_from_db()
    assert example.score == 8.0 and example.review_status == "approved" and example.source == "human"
    assert Review.objects.get(example=example).action == "correct"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"score": "11"}, "score", "less than or equal to 10"),
        ({"score": "high"}, "score", "Enter a number"),
        ({"clarity": "2.5"}, "clarity", "less than or equal to 2"),
        ({"completeness": ""}, "completeness", "Give every part of the breakdown"),
        ({"action": "correct"}, "score", "Type the corrected score first"),
    ],
)
def test_errors_are_shown_next_to_their_field_and_nothing_changes(reviewer_client, changes, field, message):
    example = typical_example()
    before = TrainingExample.objects.values().get(pk=example.pk)
    response = reviewer_client.post(REVIEW, decision(example, changes.pop("action", "correct"), **changes))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert 'class="r4h-field r4h-field-' in response.content.decode() and "errorlist" in response.content.decode()
    after = TrainingExample.objects.values().get(pk=example.pk)
    assert {k: v for k, v in after.items() if not k.startswith("reserved")} == {
        k: v for k, v in before.items() if not k.startswith("reserved")
    }
    assert not Review.objects.exists()


def test_a_review_made_on_a_stale_page_is_refused(reviewer_client, client, django_user_model, reviewers_group):
    example = typical_example()
    stale = decision(example, "approve")
    other = django_user_model.objects.create_user(username="omar", is_staff=True)
    other.groups.add(reviewers_group)
    from training.services.review import example_review

    example_review(example=example, reviewer=other, action="reject")
    response = reviewer_client.post(REVIEW, stale)
    assert response.status_code == 200
    assert "changed since you opened it" in " ".join(response.context["form"].non_field_errors())
    assert TrainingExample.objects.get(pk=example.pk).review_status == "rejected"


def test_undo_brings_the_last_review_back(reviewer_client):
    example = typical_example()
    reviewer_client.post(REVIEW, decision(example, "reject"))
    assert TrainingExample.objects.get(pk=example.pk).review_status == "rejected"
    response = reviewer_client.post(REVIEW, {"action": "undo"}, follow=True)
    assert response.context["example"] == example
    assert messages_of(response)[-1] == f"Undid your review of example #{example.pk}: it is back in the queue."
    assert TrainingExample.objects.get(pk=example.pk).review_status == "pending"
    response = reviewer_client.post(REVIEW, {"action": "undo"}, follow=True)
    assert "You have no review to undo." in messages_of(response)[-1]


def test_an_empty_queue_says_so(reviewer_client):
    typical_example(language="es")
    response = reviewer_client.get(REVIEW + "?language=en")
    assert response.status_code == 200 and response.context["example"] is None
    assert "Nothing to review in this queue." in response.content.decode()


def test_a_bad_filter_is_reported(reviewer_client):
    response = reviewer_client.get(REVIEW + "?language=klingon", follow=True)
    assert response.redirect_chain[0][0] == REVIEW
    assert "Unknown language 'klingon'" in messages_of(response)[0]


def test_a_staff_user_without_the_group_cannot_review(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="intern", is_staff=True))
    assert client.get(REVIEW).status_code == 403


def test_the_list_page_is_the_reviewers_queue(reviewer_client):
    typical_example(language="en")
    response = reviewer_client.get(reverse("admin:training_trainingexample_changelist") + "?language__exact=en")
    content = response.content.decode()
    assert "Training examples to review" in content and "Select training example to change" not in content
    assert f'href="{REVIEW}?language=en"' in content
    assert len(response.context["cl"].list_display) <= 8  # fits 1,440 px; the details are on the change page
    index = reviewer_client.get(reverse("admin:index")).content.decode()
    assert f'href="{REVIEW}"' in index


def test_the_change_page_names_its_buttons_for_what_they_do(reviewer_client):
    example = typical_example()
    content = reviewer_client.get(reverse("admin:training_trainingexample_change", args=[example.pk])).content
    content = content.decode()
    assert "Correct score and approve" in content and "Save correction" not in content
    # The correction form and its buttons are in the right-hand column, beside the question and answer
    # (test_examples_browser.py checks they show above the fold at 1,440 × 900).
    side = content[content.index('<div class="r4h-side">') :]
    assert 'id="id_corrected_score"' in side and 'name="_approve_next"' in side and "Machine grade</h2>" not in side


def test_the_screen_speaks_spanish(reviewer_client):
    typical_example(category="technical")
    content = reviewer_client.get(REVIEW, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    for spanish in (
        "revisados de",
        "en esta cola",
        "Aprobar",
        "Corregir nota y aprobar",
        "Rechazar",
        "Deshacer",
        "Rúbrica: Técnica",
        "Conceptos esperados",
        "Calificación automática",
        "Opiniones de los evaluadores",
        "Atajos de teclado",
        "Completitud",
    ):
        assert spanish in content, spanish
    assert "Approve" not in content and "Keyboard shortcuts" not in content


def test_the_reviewer_can_choose_the_language_on_the_screen(reviewer_client):
    typical_example()
    response = reviewer_client.post(reverse("set_language"), {"language": "es", "next": REVIEW}, follow=True)
    assert response.redirect_chain[-1][0] == REVIEW
    assert "Corregir nota y aprobar" in response.content.decode()


def test_the_statistics_page_speaks_spanish(reviewer_client):
    typical_example()
    content = reviewer_client.get(
        reverse("admin:training_trainingexample_statistics"), HTTP_ACCEPT_LANGUAGE="es"
    ).content.decode()
    assert "Histograma de notas" in content and "revisados por personas" in content and "Acuerdo" in content


def test_the_spanish_catalogue_is_complete_and_compiled():
    """The .mo is committed (a fresh clone needs no msgfmt); it must say what the .po says.
    After editing the .po: `python -c "import polib; polib.pofile('locale/es/LC_MESSAGES/django.po')
    .save_as_mofile('locale/es/LC_MESSAGES/django.mo')"` (or `manage.py compilemessages` with GNU gettext)."""
    polib = pytest.importorskip("polib")
    po = polib.pofile(str(CATALOGUE / "django.po"))
    assert po.percent_translated() == 100 and not po.fuzzy_entries()
    with open(CATALOGUE / "django.mo", "rb") as committed:
        shipped = gettext.GNUTranslations(committed)
    fresh = gettext.GNUTranslations(io.BytesIO(po.to_binary()))
    assert shipped._catalog == fresh._catalog, "django.mo is stale: recompile it from django.po"
