"""The steps `manage.py demo` runs: grading sample answers and a practice set, collection, a review labelled
as the demo's, an export, a Modelfile, a tiny fine-tune and a comparison of the fine-tuned model with its
random-initialised base. Each step is a call to the same services the admin, the API and the commands use;
this module only chains them."""

from __future__ import annotations

import importlib.util
import json
import random
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from evaluation.batch_grading import GradingItem, evaluation_grade_many
from evaluation.llm.local import DEFAULT_BATCH_SIZE
from evaluation.models import Question
from evaluation.services import evaluation_submit

from ..finetune.deps import SERVE_INSTALL, missing_train_packages, train_extra_message
from ..models import ComparisonRun, DatasetExport, FineTuneRun, JobStatus, Modelfile, TrainingExample
from ..selectors import ExportFilters, collection_settings_get
from ..services import (
    collection_settings_update,
    comparison_create_and_run,
    dataset_export_submit,
    example_approve,
    modelfile_build_from_latest_export,
)
from ..services.finetune import finetune_run_create, finetune_run_execute
from ..services.reviewers import reviewer_create
from .progress import Progress
from .second_opinion import demo_second_opinions

DEMO_REVIEW_NOTE = "demo: approved automatically by `manage.py demo`, not by a human reviewer"


@contextmanager
def demo_collection(*, enabled: bool) -> Iterator[bool]:
    """Collect heuristic grades of every score while the block runs, then restore the settings.

    Without an LLM every demo grade comes from the heuristic, which the defaults do not collect, and the
    minimum score would drop the low grades a grader must also learn to give. Yields whether it changed
    anything.
    """
    current = collection_settings_get()
    sources, threshold = current.sources, current.min_score_threshold
    if not enabled or ("heuristic" in sources and threshold == 0):
        yield False
        return
    collection_settings_update(sources=sorted({*sources, "heuristic"}), min_score_threshold=0)
    try:
        yield True
    finally:
        collection_settings_update(sources=sources, min_score_threshold=threshold)


@dataclass(frozen=True)
class SampleGrade:
    question: str
    language: str
    quality: str
    score: float
    source: str


def _partial(reference: str) -> str:
    """The first third of a reference answer's sentences: on topic, but incomplete."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", reference.strip()) if s]
    return " ".join(sentences[: max(1, len(sentences) // 3)])


def _pick_questions(count: int) -> list[Question]:
    """A spread over language × category × difficulty, so the demo shows the bank's range."""
    picked: list[Question] = []
    groups = [
        (lang, cat, diff)
        for diff in ("mid", "senior", "junior")
        for lang in ("es", "en")
        for cat in ("technical", "soft_skills")
    ]
    for lang, cat, diff in groups:
        question = (
            Question.objects.filter(language=lang, category=cat, difficulty=diff).exclude(reference_answer="").first()
        )
        if question and question not in picked:
            picked.append(question)
        if len(picked) == count:
            break
    return picked


def sample_answers_grade(*, count: int, grades_path: Path) -> list[SampleGrade]:
    """Grade a strong, a partial and an off-topic answer to `count` bank questions, one JSON line per grade
    written to `grades_path`, so the demo shows how the grader tells them apart."""
    grades: list[SampleGrade] = []
    with grades_path.open("w", encoding="utf-8") as out:
        for index, question in enumerate(_pick_questions(count)):
            # Off-topic: another question's good answer, from a different category, in the same language.
            other = (
                Question.objects.filter(language=question.language)
                .exclude(category=question.category)
                .exclude(reference_answer="")
                .order_by("key")[index % 3 : index % 3 + 1]
                .first()
            )
            samples = [("strong", question.reference_answer), ("partial", _partial(question.reference_answer))]
            if other:
                samples.append(("off-topic", other.reference_answer))
            for quality, answer in samples:
                evaluation = evaluation_submit(request=question.grading_request(answer), question=question, wait=True)
                grades.append(
                    SampleGrade(question.key, question.language, quality, evaluation.score, evaluation.source)
                )
                record = {
                    "question": question.key,
                    "quality": quality,
                    "evaluation_id": evaluation.pk,
                    "source": evaluation.source,
                    "result": evaluation.result,
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return grades


def practice_set_grade(*, subsets: int = 3, seed: int = 0, on_progress: Progress | None = None) -> int:
    """Grade answers of every quality to every bank question (what candidates would send), so the demo has
    enough graded examples to fine-tune on. Returns how many grades were made; `on_progress(done, total)`
    follows them."""
    from ..finetune.synthetic import answer_variants

    questions = list(Question.objects.exclude(reference_answer="").order_by("key"))
    rng = random.Random(seed)
    items: list[GradingItem] = []
    for index, question in enumerate(questions):
        other = questions[(index + len(questions) // 3) % len(questions)]
        as_dict = {
            "reference_answer": question.reference_answer,
            "expected_concepts": question.expected_concepts,
            "language": question.language,
        }
        for answer in answer_variants(as_dict, {"reference_answer": other.reference_answer}, rng, subsets):
            items.append(GradingItem(request=question.grading_request(answer), question=question))
    # LLM_CONCURRENCY grades in flight: the practice set is the demo's longest wait on the LLM server.
    finished = 0

    def done(index: int, result: object) -> None:
        nonlocal finished
        finished += 1
        if on_progress is not None:
            on_progress(finished, len(items))

    return len(evaluation_grade_many(items=items, on_done=done))


def demo_review(*, keep_pending: int = 120) -> int:
    """Leave the examples the graders disagree on most for people to review (up to `keep_pending`, at most
    half of them) and approve the rest through the review service, automatically: noted as the demo's and
    never counted as reviewed by a person. Returns how many were approved."""
    demo_second_opinions()
    pending = TrainingExample.objects.filter(review_status=TrainingExample.ReviewStatus.PENDING)
    ids = list(pending.order_by("-disagreement", "-uncertainty", "-id").values_list("pk", flat=True))
    keep = min(keep_pending, len(ids) // 2)
    for example_id in ids[keep:]:
        example_approve(example_id=example_id, note=DEMO_REVIEW_NOTE)
    return len(ids) - keep


def demo_reviewer(*, username: str = "demo-reviewer") -> tuple[str, str] | None:
    """On the local SQLite default, a reviewer account to try the review screen with: (username, password),
    a new password on every run. None elsewhere: a shared database gets its people from `create_reviewer`."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        user, password = reviewer_create(username=username)
        return user.get_username(), password
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    return username, password


def demo_export() -> DatasetExport:
    """Export the approved examples of every source (the demo's are heuristic) in the messages format."""
    return dataset_export_submit(
        name="ready4hire-demo", fmt="messages", filters=ExportFilters(sources=()), seed=42, wait=True
    )


def demo_modelfile(*, output_dir: Path) -> Modelfile:
    return modelfile_build_from_latest_export(write_to=output_dir / "Modelfile")


@dataclass
class DemoModels:
    run: FineTuneRun | None = None
    comparison: ComparisonRun | None = None
    skipped: str = ""
    served_by: str = ""  # how the two models graded: in this process, or llama.cpp's server


# A grade from the tiny model takes ~200 tokens; its random base never finishes one, so the budget decides
# how long the base grades, not what either model scores (a grade that does not fit is a miss either way).
DEMO_NUM_PREDICT = 384


@contextmanager
def _num_predict(tokens: int) -> Iterator[None]:
    previous = settings.LLM_NUM_PREDICT
    settings.LLM_NUM_PREDICT = tokens
    try:
        yield
    finally:
        settings.LLM_NUM_PREDICT = previous


def demo_finetune_and_compare(
    *,
    export: DatasetExport,
    steps: int | None = None,
    limit: int = 48,
    serve_gguf: bool = False,
    on_train: Callable[[Any], None] | None = None,
    on_grade: Progress | None = None,
) -> DemoModels:
    """Fine-tune a tiny model on the export, then compare it with its random-initialised base on the
    validation split: both checkpoints run in this process (the `local` backend, `[train]` only), or, with
    `serve_gguf`, their GGUF files served by llama.cpp (`[serve]`). Says why a part was skipped."""
    missing = missing_train_packages()
    if missing:
        return DemoModels(skipped=train_extra_message(missing))
    run = finetune_run_create(
        dataset_export_id=export.pk, init_tiny=True, hyperparameters={"max_steps": steps} if steps else None
    )
    run = finetune_run_execute(run_id=run.pk, on_progress=on_train)
    if run.status != JobStatus.DONE:
        return DemoModels(run=run, skipped=f"the fine-tune run failed: {run.error}")
    if serve_gguf and importlib.util.find_spec("llama_cpp") is None:
        return DemoModels(run=run, skipped=f"llama-cpp-python is not installed ({SERVE_INSTALL}): models not served")
    suffix = "" if serve_gguf else "@local"
    with _num_predict(min(DEMO_NUM_PREDICT, settings.LLM_NUM_PREDICT)):
        comparison = comparison_create_and_run(
            models=[("base", f"tiny-base{suffix}"), ("ft", f"latest{suffix}")],
            dataset_export_id=export.pk,
            split="val",
            limit=limit,
            on_progress=on_grade,
            concurrency=DEFAULT_BATCH_SIZE,  # calls that arrive together are generated as one batch
        )
    served_by = "llama.cpp's server (GGUF files)" if serve_gguf else "in this process (transformers, local backend)"
    return DemoModels(run=run, comparison=comparison, served_by=served_by)
