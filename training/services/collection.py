"""Collection: every finished grade becomes a candidate training example, once per normalised question + answer."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from evaluation.llm.heuristic import HEURISTIC_MODEL_NAME
from evaluation.llm.schema import GradingRequest
from ready4hire.errors import InvalidInput

from ..models import CollectionSettings, TrainingExample
from ..selectors import collection_settings_get
from ..text import content_hash
from .labels import label_validate, number_validate, snapshot_validate
from .opinions import opinions_at_collection

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from evaluation.models import Evaluation

logger = logging.getLogger(__name__)


class Collected(enum.StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    DISABLED = "disabled"
    SOURCE_NOT_ACCEPTED = "source_not_accepted"
    BELOW_THRESHOLD = "below_threshold"


@dataclass(frozen=True)
class CollectResult:
    outcome: Collected
    example: TrainingExample | None = None

    @property
    def created(self) -> bool:
        return self.outcome is Collected.CREATED


def example_collect(
    *,
    question: str,
    answer: str,
    label: Mapping[str, Any],
    source: str,
    expected_concepts: Iterable[str] = (),
    keywords: Iterable[str] = (),
    category: str = "technical",
    difficulty: str = "mid",
    role: str = "",
    language: str = "es",
    model: str = "",
    prompt_version: str = "",
    evaluation: Evaluation | None = None,
) -> CollectResult:
    """Keep a grade as a pending training example if the collection settings accept it.

    The same answer to the same question (case, accents and white space aside) is kept once: the unique
    content hash decides, so two workers collecting it at the same moment still leave exactly one row.
    Call it inside the caller's transaction; the insert runs in a savepoint so a duplicate does not
    poison that transaction.
    """
    grade = label_validate(label)
    expected_concepts, keywords = list(expected_concepts), list(keywords)
    snapshot_validate(
        question=question, answer=answer, category=category, difficulty=difficulty, language=language, source=source
    )
    collection_settings = collection_settings_get()
    if not collection_settings.enabled:
        return CollectResult(Collected.DISABLED)
    if source not in collection_settings.sources:
        return CollectResult(Collected.SOURCE_NOT_ACCEPTED)
    if grade.score < collection_settings.min_score_threshold:
        return CollectResult(Collected.BELOW_THRESHOLD)

    digest = content_hash(question=question, answer=answer)
    existing = TrainingExample.objects.filter(content_hash=digest).first()
    if existing is not None:  # the common case of a cached grade: no heuristic opinion for a row never stored
        return CollectResult(Collected.DUPLICATE, existing)
    request = GradingRequest.normalised(
        question=question,
        answer=answer,
        expected_concepts=list(expected_concepts),
        keywords=list(keywords),
        category=category,
        difficulty=difficulty,
        role=role,
        language=language,
    )
    grader = model or (HEURISTIC_MODEL_NAME if source == TrainingExample.Source.HEURISTIC else source)
    opinions = opinions_at_collection(request=request, grader=grader, score=grade.score)
    try:
        with transaction.atomic():
            example = TrainingExample.objects.create(
                evaluation=evaluation,
                question=question,
                answer=answer,
                expected_concepts=expected_concepts,
                keywords=keywords,
                category=category,
                difficulty=difficulty,
                role=role,
                language=language,
                label=grade.model_dump(),
                score=grade.score,
                source=source,
                model=model,
                prompt_version=prompt_version,
                content_hash=digest,
                **opinions,
            )
    except IntegrityError:
        # On PostgreSQL a concurrent insert of the same hash waits for the other transaction and then fails
        # here; by then the winner's row is committed and visible. Any other integrity error is re-raised.
        existing = TrainingExample.objects.filter(content_hash=digest).first()
        if existing is None:
            raise
        return CollectResult(Collected.DUPLICATE, existing)
    return CollectResult(Collected.CREATED, example)


def example_collect_from_evaluation(*, evaluation: Evaluation) -> CollectResult | None:
    """The grading service's hook, called inside its storing transaction for every finished evaluation."""
    if evaluation.status != evaluation.Status.DONE or not evaluation.result:
        return None
    try:
        return example_collect(
            question=evaluation.question_text,
            answer=evaluation.answer,
            label=evaluation.raw_result or evaluation.result,  # the grader's own grade, never the calibrated one
            source=evaluation.source,
            expected_concepts=evaluation.expected_concepts,
            keywords=evaluation.keywords,
            category=evaluation.category,
            difficulty=evaluation.difficulty,
            role=evaluation.role,
            language=evaluation.language,
            model=evaluation.model,
            prompt_version=evaluation.prompt_version,
            evaluation=evaluation,
        )
    except InvalidInput as exc:
        # A grade the schema refuses must not undo the grading itself: keep the evaluation, skip the example.
        logger.warning("Evaluation %s was not collected: %s", evaluation.pk, exc)
        return None


def collection_settings_update(
    *,
    enabled: bool | None = None,
    min_score_threshold: float | None = None,
    sources: Iterable[str] | None = None,
    reviews_required: int | None = None,
    review_reservation_seconds: int | None = None,
    updated_by: AbstractBaseUser | None = None,
) -> CollectionSettings:
    """Change what is collected and how it is reviewed; every worker reads the row, so the change applies at
    once everywhere."""
    changes: dict[str, Any] = {}
    for name, value, low, high in (
        ("reviews_required", reviews_required, 1, 5),
        ("review_reservation_seconds", review_reservation_seconds, 30, 86400),
    ):
        if value is not None:
            number = number_validate(value, field=name, low=low, high=high)
            if number != int(number):
                raise InvalidInput(f"{name} must be a whole number (got {value!r}).", field=name)
            changes[name] = int(number)
    if enabled is not None:
        changes["enabled"] = bool(enabled)
    if min_score_threshold is not None:
        changes["min_score_threshold"] = number_validate(
            min_score_threshold, field="min_score_threshold", low=0.0, high=10.0
        )
    if sources is not None:
        wanted = list(sources)
        known = TrainingExample.Source.values
        unknown = [source for source in wanted if source not in known]
        if unknown:
            raise InvalidInput(f"Unknown source {unknown[0]!r}: expected some of {', '.join(known)}.", field="sources")
        changes.update({f"collect_{source}": source in wanted for source in known})

    with transaction.atomic():
        collection_settings_get()
        collection_settings = CollectionSettings.objects.select_for_update().get(pk=CollectionSettings.SINGLETON_ID)
        for name, value in changes.items():
            setattr(collection_settings, name, value)
        collection_settings.updated_by = updated_by
        collection_settings.save(update_fields=[*changes, "updated_by", "updated_at"])
    return collection_settings
