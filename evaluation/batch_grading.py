"""Grading many requests at once (`evaluate --file`, the demo's practice set): the LLM calls run
LLM_CONCURRENCY at a time (`evaluation.batch`), every database step stays in the calling thread.

The result equals the sequential run's: rows are created in input order (by one insert), and a request
repeated in the batch is graded only after its first copy is stored, so it finds that grade in the cache
exactly as it would one after the other. A failure is recorded on that item's row and returned in its place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.db import transaction

from .batch import Outcome, batch_map, concurrency_checked
from .llm.clients import BaseLLMClient
from .llm.grader import LLMGrade, grade_with_llm
from .llm.schema import GradingRequest
from .models import Evaluation, Question
from .services import (
    GradeDraft,
    evaluation_build,
    evaluation_failure_recorded,
    evaluation_grade_begin,
    evaluation_grade_finish,
    llm_client,
    llm_grade_options,
)


@dataclass(frozen=True)
class GradingItem:
    request: GradingRequest
    requested_model: str = ""
    question: Question | None = None


def evaluation_grade_many(
    *,
    items: Sequence[GradingItem],
    concurrency: int | None = None,
    on_done: Callable[[int, Evaluation | Exception], None] | None = None,
) -> list[Evaluation | Exception]:
    """Grade every item; returns, in input order, each one's finished Evaluation or the exception that
    stopped it. `on_done(index, result)` runs in this thread as each item finishes (for progress)."""
    limit = concurrency_checked(concurrency)
    results: list[Evaluation | Exception | None] = [None] * len(items)

    def settle(index: int, result: Evaluation | Exception) -> None:
        results[index] = result
        if on_done is not None:
            on_done(index, result)

    rows = _rows_created(items)
    copies: Counter[str] = Counter()
    rounds: dict[int, list[int]] = {}
    for index, row in enumerate(rows):
        rounds.setdefault(copies[row.cache_key], []).append(index)
        copies[row.cache_key] += 1
    clients: dict[str, BaseLLMClient] = {}
    for round_indexes in rounds.values():
        _grade_round(rows, round_indexes, limit, clients, settle)
    return results  # type: ignore[return-value]


def _rows_created(items: Sequence[GradingItem]) -> list[Evaluation]:
    """Every item's row, claimed, inserted in input order by one statement and one commit."""
    resolved: dict[tuple[str, str], str] = {}
    rows = []
    for item in items:
        key = (item.requested_model, item.request.category)
        row = evaluation_build(
            request=item.request, requested_model=item.requested_model, question=item.question, model=resolved.get(key)
        )
        resolved[key] = row.model
        rows.append(row)
    return Evaluation.objects.bulk_create(rows)


def _grade_round(
    rows: list[Evaluation],
    indexes: list[int],
    limit: int,
    clients: dict[str, BaseLLMClient],
    settle: Callable[[int, Evaluation | Exception], None],
) -> None:
    """Grade rows whose cache keys are all different: a cached one at once, the others through the LLM."""
    drafts: dict[int, GradeDraft] = {}
    asked: list[int] = []  # the rows sent to the LLM, in the order batch_map numbers them

    def asking() -> Iterator[int]:
        # Read lazily by batch_map, one row per free worker: each cache lookup happens just before its call.
        for index in indexes:
            row = rows[index]
            draft = _recorded(row, lambda row=row: evaluation_grade_begin(evaluation=row))
            if isinstance(draft, Exception):
                settle(index, draft)
            elif draft.needs_llm:
                drafts[index] = draft
                clients.setdefault(row.model, llm_client(model=row.model))
                asked.append(index)
                yield index
            else:
                settle(index, _finish(row, draft))

    def ask(index: int) -> LLMGrade:
        row = rows[index]  # no ORM here: this runs in a worker thread
        return grade_with_llm(clients[row.model], row.grading_request(), **llm_grade_options(evaluation=row))

    def on_done(outcome: Outcome[LLMGrade]) -> None:
        index = asked[outcome.index]
        row, draft = rows[index], drafts.pop(index)
        if outcome.error is not None:
            settle(index, _recorded(row, lambda: _raise(outcome.error)))
            return
        draft.take_llm(outcome.value, evaluation_id=row.pk)
        settle(index, _finish(row, draft))

    # Grades that finish together are stored in one commit, each in its own savepoint.
    batch_map(ask, asking(), concurrency=limit, on_done=on_done, group=transaction.atomic)


def _finish(row: Evaluation, draft: GradeDraft) -> Evaluation | Exception:
    return _recorded(row, lambda: evaluation_grade_finish(evaluation=row, draft=draft))


def _recorded(row: Evaluation, step: Callable[[], object]) -> object | Exception:
    """Run a grading step of `row`; an error is recorded on the row and returned instead of raised."""
    try:
        with evaluation_failure_recorded(evaluation=row):
            return step()
    except Exception as exc:
        return exc


def _raise(error: Exception) -> None:
    raise error
