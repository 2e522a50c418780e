"""Factories for the evaluation app's rows: bank questions, and evaluations as the API stores them (pending)."""

from __future__ import annotations

import factory

from evaluation.models import Evaluation, Question


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    key = factory.Sequence(lambda n: f"deadlock-{n}-en")
    text = "What is a deadlock?"
    language = "en"
    category = "technical"
    difficulty = "mid"
    role = "Backend Developer"
    expected_concepts = factory.LazyFunction(lambda: ["lock", "wait", "cycle"])
    keywords = factory.LazyFunction(lambda: ["concurrency"])
    reference_answer = "Two threads each hold a lock and wait for the other's, a cycle neither can break."


class EvaluationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Evaluation

    question_text = "What is a deadlock?"
    answer = "Two threads each wait for the other's lock."
    category = "technical"
    difficulty = "mid"
    language = "en"
