"""Synthetic grading examples, for the tests and the benchmark of fine-tuning (no torch needed).

Answers are built from the question bank's reference answers — the whole answer, half of it, one sentence,
random subsets of its sentences, a bare list of the expected concepts, another question's answer (off
topic), a non-answer — and labelled by the heuristic grader, so the labels follow the real schema and spread
over the whole 0–10 scale. `synthetic_export_create` writes them as a finished `DatasetExport`, laid out as a
real export is.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

import evaluation
from evaluation.llm.heuristic import heuristic_grade
from evaluation.llm.schema import PROMPT_VERSION, GradingRequest
from training.formats import format_example
from training.models import DatasetExport, JobStatus
from training.services.numbering import version_number_next

QUESTIONS_PATH = Path(evaluation.__file__).resolve().parent / "data" / "questions.json"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NON_ANSWERS = {
    "en": "I am not sure, I have never used it.",
    "es": "No estoy seguro, nunca lo he usado.",
}


def answer_variants(question: dict[str, Any], other: dict[str, Any], rng: random.Random, subsets: int) -> list[str]:
    """Answers of every quality to one bank question (a dict with text, reference_answer, expected_concepts,
    language): whole, half, one sentence, concepts only, off topic (`other`'s answer), a non-answer, and
    `subsets` random subsets of its sentences."""
    sentences = [part for part in _SENTENCE_END.split(question["reference_answer"].strip()) if part]
    concepts = ", ".join(question["expected_concepts"]) + "."
    answers = [
        question["reference_answer"],
        " ".join(sentences[: max(1, len(sentences) // 2)]),
        sentences[0],
        concepts,
        f"{sentences[0]} {concepts}",
        other["reference_answer"],
        _NON_ANSWERS.get(question["language"], _NON_ANSWERS["en"]),
    ]
    answers += [" ".join(rng.sample(sentences, rng.randint(1, len(sentences)))) for _ in range(subsets)]
    return answers


def synthetic_examples(*, seed: int = 0, subsets: int = 8) -> list[tuple[GradingRequest, dict[str, Any]]]:
    """(request, heuristic label) pairs: 7 + `subsets` answers for each question of the bank, shuffled."""
    questions = json.loads(QUESTIONS_PATH.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    examples = []
    for index, question in enumerate(questions):
        other = questions[(index + len(questions) // 3) % len(questions)]
        for answer in answer_variants(question, other, rng, subsets):
            request = GradingRequest.normalised(
                question=question["text"],
                answer=answer,
                expected_concepts=question["expected_concepts"],
                keywords=question.get("keywords", []),
                category=question["category"],
                difficulty=question["difficulty"],
                role=question.get("role", ""),
                language=question["language"],
            )
            examples.append((request, heuristic_grade(request).model_dump()))
    rng.shuffle(examples)
    return examples


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    data = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")
    path.write_bytes(data)
    media_root = Path(settings.MEDIA_ROOT).resolve()
    return {
        "path": path.resolve().relative_to(media_root).as_posix(),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def synthetic_export_create(
    *,
    examples: list[tuple[GradingRequest, dict[str, Any]]],
    val_count: int,
    name: str = "synthetic",
    fmt: str = DatasetExport.Format.MESSAGES,
    seed: int = 0,
) -> DatasetExport:
    """A finished export of `examples` (the first `val_count` are the validation split) under MEDIA_ROOT."""
    version = version_number_next(model=DatasetExport, name=name)
    directory = Path(settings.MEDIA_ROOT) / "datasets" / name / f"v{version}"
    directory.mkdir(parents=True, exist_ok=True)
    records = [format_example(fmt, request=request, label=label) for request, label in examples]
    val, train = records[:val_count], records[val_count:]
    files = {
        "train": _write_jsonl(directory / f"{name}_train.jsonl", train),
        "val": _write_jsonl(directory / f"{name}_val.jsonl", val),
    }
    now = timezone.now()
    return DatasetExport.objects.create(
        name=name,
        version=version,
        format=fmt,
        seed=seed,
        train_share=len(train) / len(records),
        prompt_version=PROMPT_VERSION,
        train_count=len(train),
        val_count=len(val),
        files=files,
        status=JobStatus.DONE,
        progress=100,
        started_at=now,
        finished_at=now,
    )
