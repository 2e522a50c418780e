"""Factories for the training app's rows: training examples with a schema-valid grade, finished dataset exports
and fine-tune runs; `grade()` builds the label alone."""

from __future__ import annotations

from typing import Any

import factory

from evaluation.llm.parsing import normalise_grade
from evaluation.llm.schema import PROMPT_VERSION
from training.models import DatasetExport, FineTuneRun, JobStatus, TrainingExample
from training.text import content_hash


def grade(score: float = 6.0, **overrides: Any) -> dict[str, Any]:
    """A schema-valid grade whose breakdown sums to `score`."""
    data = {
        "score": score,
        "breakdown": {"completeness": 3, "technical_depth": 3, "clarity": 2, "key_concepts": 2},
        "justification": f"Covers most of the expected concepts. Score {score}.",
        "strengths": ["clear structure"],
        "improvements": ["give an example"],
        "concepts_covered": ["index"],
        "missing_concepts": ["write cost"],
    }
    data.update(overrides)
    return normalise_grade(data).model_dump()


class TrainingExampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingExample

    question = factory.Sequence(lambda n: f"What is a database index? (variant {n})")
    answer = factory.Sequence(lambda n: f"A structure, usually a B-tree, that finds rows without a full scan. #{n}")
    expected_concepts = factory.LazyFunction(lambda: ["B-tree", "full scan", "write cost"])
    keywords = factory.LazyFunction(lambda: ["index"])
    category = "technical"
    difficulty = "mid"
    role = "Backend Developer"
    language = "en"
    score = 6.0
    label = factory.LazyAttribute(lambda example: grade(example.score))
    source = TrainingExample.Source.LLM
    model = "llama3.2:3b"
    prompt_version = PROMPT_VERSION
    content_hash = factory.LazyAttribute(lambda example: content_hash(question=example.question, answer=example.answer))


class DatasetExportFactory(factory.django.DjangoModelFactory):
    """A finished export row; the tests that read its files write them and pass `files`."""

    class Meta:
        model = DatasetExport

    version = factory.Sequence(lambda n: n + 1)
    status = JobStatus.DONE


class FineTuneRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FineTuneRun

    dataset_export = factory.SubFactory(DatasetExportFactory)
    base_model = "/models/tiny"
    status = JobStatus.DONE
