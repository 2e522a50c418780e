"""Collection: grades become pending examples per the settings in the database, once per normalised answer."""

from __future__ import annotations

import pytest

from evaluation.llm.schema import GradingRequest
from evaluation.models import Evaluation
from evaluation.services import evaluation_submit
from ready4hire.errors import InvalidInput
from tests.evaluation.factories import EvaluationFactory
from training.models import CollectionSettings, TrainingExample
from training.selectors import collection_settings_get
from training.services import Collected, collection_settings_update, example_collect
from training.text import content_hash, fold_text

from .factories import grade

pytestmark = pytest.mark.django_db

REQUEST = GradingRequest.normalised(
    question="What is the GIL in Python and how does it affect concurrency?",
    answer=(
        "The GIL is a mutex in CPython that lets one thread run bytecode at a time. Threads still help with "
        "I/O-bound work, but CPU-bound work needs multiprocessing."
    ),
    expected_concepts=["GIL", "threads", "multiprocessing"],
    keywords=["CPython"],
    category="technical",
    difficulty="mid",
    role="Backend Developer",
    language="en",
)


def collect(**overrides):
    fields = {
        "question": "¿Qué es un índice?",
        "answer": "Una estructura que acelera las búsquedas.",
        "label": grade(6.0),
        "source": "llm",
        "category": "technical",
        "difficulty": "junior",
        "language": "es",
    }
    fields.update(overrides)
    return example_collect(**fields)


@pytest.fixture
def ollama(settings, ollama_server):
    settings.LLM_BACKEND = "ollama"
    settings.LLM_BASE_URL = ollama_server.base_url
    settings.LLM_RETRY_BACKOFF = 0
    return ollama_server


def test_a_finished_llm_grade_becomes_a_pending_example(ollama):
    evaluation = evaluation_submit(request=REQUEST)
    example = TrainingExample.objects.get()
    assert example.evaluation == evaluation
    assert example.label == evaluation.result and example.score == evaluation.score
    assert example.source == "llm" and example.model == evaluation.model
    assert example.review_status == TrainingExample.ReviewStatus.PENDING
    assert example.prompt_version == evaluation.prompt_version
    assert (example.question, example.answer) == (REQUEST.question, REQUEST.answer)
    assert example.expected_concepts == list(REQUEST.expected_concepts)
    assert (example.category, example.difficulty, example.role, example.language) == (
        "technical",
        "mid",
        "Backend Developer",
        "en",
    )


def test_heuristic_grades_are_not_collected_by_default():
    evaluation = evaluation_submit(request=REQUEST)
    assert evaluation.source == Evaluation.Source.HEURISTIC
    assert not TrainingExample.objects.exists()


def test_accepting_heuristic_grades_collects_them():
    collection_settings_update(sources=["llm", "heuristic", "human"])
    evaluation = evaluation_submit(request=REQUEST)
    assert TrainingExample.objects.get().source == "heuristic"
    assert TrainingExample.objects.get().evaluation == evaluation


def test_grading_the_same_answer_twice_keeps_one_example(ollama):
    evaluation_submit(request=REQUEST)
    evaluation_submit(request=REQUEST)
    assert Evaluation.objects.count() == 2
    assert TrainingExample.objects.count() == 1


def test_defaults_match_the_original_collector():
    collection = collection_settings_get()
    assert collection.pk == CollectionSettings.SINGLETON_ID
    assert collection.enabled is True
    assert collection.min_score_threshold == 3.0
    assert collection.sources == ["llm", "human"]


@pytest.mark.parametrize(
    ("score", "outcome"), [(2.9, Collected.BELOW_THRESHOLD), (5.0, Collected.CREATED), (5.1, Collected.CREATED)]
)
def test_below_the_threshold_is_not_collected(score, outcome):
    collection_settings_update(min_score_threshold=5.0)
    assert collect(label=grade(score)).outcome is outcome


def test_disabled_collection_collects_nothing():
    collection_settings_update(enabled=False)
    result = collect()
    assert result.outcome is Collected.DISABLED and not result.created
    assert not TrainingExample.objects.exists()


def test_a_source_not_accepted_is_skipped():
    collection_settings_update(sources=["human"])
    assert collect(source="llm").outcome is Collected.SOURCE_NOT_ACCEPTED
    assert collect(source="human").outcome is Collected.CREATED


def test_case_accents_and_white_space_do_not_make_a_new_example():
    first = collect(question="¿Qué es un índice?", answer="Una estructura que acelera las búsquedas.")
    again = collect(question="  ¿QUE es un  indice? ", answer="una estructura\nque acelera las BUSQUEDAS.")
    assert first.created and again.outcome is Collected.DUPLICATE
    assert again.example == first.example
    assert TrainingExample.objects.count() == 1


def test_a_different_answer_is_a_new_example():
    collect(answer="Una estructura que acelera las búsquedas.")
    collect(answer="Una estructura que ralentiza las escrituras.")
    assert TrainingExample.objects.count() == 2


def test_content_hash_folds_case_accents_and_white_space():
    assert fold_text("  Árbol\tB  ÍNDICE\n") == "arbol b indice"
    assert content_hash(question="Qué", answer="Sí") == content_hash(question="que", answer=" si ")
    # The question/answer boundary matters: moving words across it is a different example.
    assert content_hash(question="a b", answer="c") != content_hash(question="a", answer="b c")


def test_a_duplicate_inside_an_open_transaction_leaves_it_usable():
    from django.db import transaction

    with transaction.atomic():
        collect()
        assert collect().outcome is Collected.DUPLICATE
        # The savepoint rolled back only the failed insert: the transaction still works.
        assert TrainingExample.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"label": {"score": 5}}, "label.breakdown"),
        ({"label": grade(6.0) | {"score": 12}}, "label.score"),
        ({"question": "   "}, "question"),
        ({"category": "cooking"}, "category"),
        ({"source": "crowd"}, "source"),
    ],
)
def test_invalid_input_is_refused_with_the_field(overrides, field):
    with pytest.raises(InvalidInput) as error:
        collect(**overrides)
    assert error.value.field == field
    assert not TrainingExample.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"min_score_threshold": 11}, "min_score_threshold"), ({"sources": ["llm", "crowd"]}, "sources")],
)
def test_bad_collection_settings_are_refused_and_nothing_changes(changes, field):
    with pytest.raises(InvalidInput) as error:
        collection_settings_update(**changes)
    assert error.value.field == field
    collection = collection_settings_get()
    assert (collection.min_score_threshold, collection.sources) == (3.0, ["llm", "human"])


def test_an_unfinished_evaluation_is_not_collected():
    from training.services import example_collect_from_evaluation

    evaluation = EvaluationFactory(question_text="q", answer="a", status=Evaluation.Status.FAILED)
    assert example_collect_from_evaluation(evaluation=evaluation) is None
    assert not TrainingExample.objects.exists()
