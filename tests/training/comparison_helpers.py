"""Human-reviewed examples whose fake-server grades are known in advance, and exports that list them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings

from evaluation.llm.prompts import build_messages
from tests.llm_servers import grade_for
from training.models import DatasetExport, TrainingExample

from .factories import DatasetExportFactory, TrainingExampleFactory, grade

CONCEPTS = ["alpha", "beta"]
# Answers and the score the fake server's `valid` mode gives each: 1 + 8 × concept coverage + words / 80.
ANSWERS = {"alpha beta": 9.0, "alpha gamma": 5.0, "gamma delta": 1.0, "alpha": 5.0}


def fake_grade(example: TrainingExample) -> dict:
    """What the fake server's `valid` mode answers for this example."""
    return grade_for(build_messages(example.grading_request()))


def reviewed_example(
    answer: str,
    human_score: float,
    *,
    human_missing: list[str] | None = None,
    same_justification: bool = True,
    category: str = "technical",
    review_status: str = TrainingExample.ReviewStatus.APPROVED,
) -> TrainingExample:
    """An approved example whose human label has `human_score`, `human_missing` concepts and (by default)
    the very justification the fake server writes, so ROUGE-L and BLEU are 1 and 100 for a valid grade."""
    example = TrainingExampleFactory(
        answer=answer,
        expected_concepts=list(CONCEPTS),
        keywords=[],
        category=category,
        score=human_score,
        source=TrainingExample.Source.HUMAN,
        review_status=review_status,
    )
    justification = fake_grade(example)["justification"] if same_justification else "Something else entirely."
    example.label = grade(human_score, missing_concepts=human_missing or [], justification=justification)
    example.save(update_fields=["label"])
    return example


def _write(relative: str, content: dict) -> dict:
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(content).encode()
    path.write_bytes(data)
    return {"path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def dataset_export(
    *, val: list[int], train: list[int] = (), ids_in: str | None = "example_ids", version: int = 1
) -> DatasetExport:
    """A finished export (files under MEDIA_ROOT) that lists each split's examples in its `example_ids` file,
    in its manifest (`ids_in="manifest"`), or nowhere (`ids_in=None`, an export from before ids were kept)."""
    directory = f"datasets/ready4hire/v{version}"
    ids = {"train": list(train), "val": list(val)}
    manifest = {"name": "ready4hire", "version": version, "train_count": len(train), "val_count": len(val)}
    files = {}
    if ids_in == "example_ids":
        files["example_ids"] = _write(f"{directory}/example_ids.json", ids)
    files["manifest"] = _write(
        f"{directory}/manifest.json", {**manifest, **({"example_ids": ids} if ids_in == "manifest" else {})}
    )
    return DatasetExportFactory(version=version, train_count=len(train), val_count=len(val), files=files)
