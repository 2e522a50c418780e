"""Reads for comparisons: the runs, the examples an export's split holds, and a version's latest gate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from ready4hire.errors import InvalidInput, NotFound

from ..models import ComparisonItem, ComparisonRun, DatasetExport, JobStatus

SPLITS = ("train", "val")


def comparison_get(*, comparison_id: int) -> ComparisonRun:
    try:
        return ComparisonRun.objects.select_related("dataset_export", "requested_by", "requested_by_key").get(
            pk=comparison_id
        )
    except ComparisonRun.DoesNotExist:
        raise NotFound(f"Comparison {comparison_id} does not exist.", field="id") from None


def comparison_list(*, status: str | None = None) -> QuerySet[ComparisonRun]:
    runs = ComparisonRun.objects.select_related("dataset_export").order_by("-created_at", "-id")
    return runs.filter(status=status) if status else runs


def _export_json(export: DatasetExport, key: str) -> dict | None:
    """One of an export's JSON files (paths are relative to MEDIA_ROOT); None when the export has no such file."""
    entry = (export.files or {}).get(key)
    if not entry:
        return None
    media_root = Path(settings.MEDIA_ROOT).resolve()
    path = (media_root / entry["path"]).resolve()
    try:
        if not path.is_relative_to(media_root):
            raise OSError("outside MEDIA_ROOT")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"Dataset export {export.pk}: cannot read its {key} file {entry['path']}: {exc}", field="dataset_id"
        ) from None


def export_split_example_ids(*, export: DatasetExport, split: str) -> list[int]:
    """The ids of the examples in an export's split, in the order the export wrote them.

    The JSONL lines are formatted prompts without ids, so the export's `example_ids` file ({split: [ids]}),
    or the same key in its manifest, is the one link between an export and the examples it holds.
    """
    if split not in SPLITS:
        raise InvalidInput(f"Unknown split {split!r}: use {' or '.join(SPLITS)}.", field="split")
    if export.status != JobStatus.DONE:
        raise InvalidInput(f"Dataset export {export.pk} is {export.status}, not done.", field="dataset_id")
    listed = _export_json(export, "example_ids") or (_export_json(export, "manifest") or {}).get("example_ids") or {}
    ids = listed.get(split)
    if ids is None:
        raise InvalidInput(
            f"Dataset export {export.pk} lists no example ids for the {split!r} split (an export written before "
            "exports recorded them): export the dataset again.",
            field="dataset_id",
        )
    return [int(example_id) for example_id in ids]


def comparison_gate_for_version(*, version_id: int) -> tuple[ComparisonRun, dict] | None:
    """The newest finished comparison that judged this version against a base, and its gate verdict.

    Contenders live in a JSON list (JSON containment is not portable to SQLite), so finished runs are read
    newest first until one holds the version as a candidate; there are tens of comparisons, not millions.
    """
    runs = ComparisonRun.objects.filter(status=JobStatus.DONE).only("pk", "contenders", "gate", "finished_at")
    for run in runs.order_by("-finished_at", "-pk").iterator(chunk_size=50):
        for contender in (run.contenders or [])[1:]:
            verdict = (run.gate or {}).get(contender.get("label"))
            if contender.get("version_id") == version_id and verdict is not None:
                return run, verdict
    return None


@dataclass(frozen=True)
class ScorePoint:
    human: float
    score: float | None  # None: the model's output was not a valid grade


def comparison_points(*, run: ComparisonRun, label: str) -> list[ScorePoint]:
    """Every grade one model gave in a comparison, beside the human score (for the admin's plots)."""
    rows = ComparisonItem.objects.filter(run=run, model_label=label).values_list("human_score", "score", "schema_valid")
    return [ScorePoint(human=human, score=score if valid else None) for human, score, valid in rows]
