"""Writing one export's files: the train and validation JSONL streamed a chunk at a time, the files beside
them for trainers, the example ids and the manifest.

The planned ids are read back in id order, a chunk at a time, formatted and streamed to temporary files that
are hashed as they are written (by a thread, while the next chunk is formatted); then every file is renamed
into place, the manifest last. Memory holds one chunk of full rows and two of lines at a time, whatever the
number of examples. Rows are only read here: the service that
calls `export_files_write` saves what it fills in on the export.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import json
import os
import shutil
from array import array
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

from evaluation.llm.schema import PROMPT_VERSION
from ready4hire.errors import InvalidInput

from ..formats import LineFormatter
from ..models import DatasetExport, TrainingExample
from ..selectors.examples import SCORE_BUCKETS
from ..selectors.exports import score_bucket_index
from .filters import ExportFilters
from .plan import ExportPlan
from .records import EXPORT_ROW_FIELDS, export_line
from .trainer_files import axolotl_snippet, llama_factory_dataset_info, training_guide


class _HashedFile:
    """A temporary file beside its final name, hashed and sized as it is written, renamed in `commit`."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.temporary = final.with_name(f".{final.name}.{os.getpid()}.part")
        self.handle: BinaryIO = self.temporary.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()

    def commit(self) -> None:
        self.close()
        os.replace(self.temporary, self.final)

    def discard(self) -> None:
        self.close()
        self.temporary.unlink(missing_ok=True)

    def entry(self, media_root: Path) -> dict[str, Any]:
        return {
            "path": self.final.relative_to(media_root).as_posix(),
            "size": self.size,
            "sha256": self.digest.hexdigest(),
        }


def _counts(kinds: Counter) -> dict[str, Counter]:
    """A split's four counts, from its examples counted by (category, difficulty, source, score): one counter
    update per example instead of four, and a score bucket looked up per distinct score."""
    counts = {name: Counter() for name in ("by_category", "by_difficulty", "by_source", "by_score_bucket")}
    bucket_names = [name for name, _, _ in SCORE_BUCKETS]
    for (category, difficulty, source, score), number in kinds.items():
        counts["by_category"][category] += number
        counts["by_difficulty"][difficulty] += number
        counts["by_source"][source] += number
        counts["by_score_bucket"][bucket_names[score_bucket_index(score)]] += number
    return counts


def _sorted_counts(counts: dict[str, Counter]) -> dict[str, dict[str, int]]:
    return {key: dict(sorted(counter.items())) for key, counter in counts.items()}


def _write_examples(
    *,
    export: DatasetExport,
    plan: ExportPlan,
    train: _HashedFile,
    val: _HashedFile,
    chunk_size: int,
    on_written: Callable[[int], None],
    written_ids: dict[str, array],
) -> dict[str, dict[str, Counter]]:
    """Stream the planned examples, in id order and `chunk_size` rows at a time, to the two files.

    The ids actually written go to `written_ids` (8 bytes each), so comparisons can find the examples of
    a split again.
    """
    kinds: dict[str, Counter] = {"train": Counter(), "val": Counter()}
    kept = heapq.merge(plan.train_ids, plan.val_ids)  # lazily: no third copy of the ids
    val_ids, next_val = plan.val_ids, 0
    formatter = LineFormatter(export.format, export.prompt_variant)
    targets = {"train": train, "val": val}
    done = 0
    # One thread writes and hashes a chunk while this one formats the next (both release the GIL for data this
    # size); one chunk at most is in flight, so memory holds two. Progress and every query stay here.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-writer") as writer:
        pending: Future[int] | None = None
        while ids := list(itertools.islice(kept, chunk_size)):
            lines: dict[str, list[bytes]] = {"train": [], "val": []}
            # A row deleted since the plan is simply skipped; the counts say what was written.
            for row in TrainingExample.objects.filter(pk__in=ids).order_by("id").values(*EXPORT_ROW_FIELDS):
                while next_val < len(val_ids) and val_ids[next_val] < row["id"]:
                    next_val += 1
                split = "val" if next_val < len(val_ids) and val_ids[next_val] == row["id"] else "train"
                lines[split].append(export_line(formatter, row))
                written_ids[split].append(row["id"])
                kinds[split][row["category"], row["difficulty"], row["source"], row["score"]] += 1
            done += len(ids)
            if pending is not None:
                on_written(pending.result())  # a failed write is raised here, before anything else is queued
            pending = writer.submit(_chunk_write, targets, lines, done)
        if pending is not None:
            on_written(pending.result())
    return {split: _counts(counted) for split, counted in kinds.items()}


def _chunk_write(targets: dict[str, _HashedFile], lines: dict[str, list[bytes]], done: int) -> int:
    """Write a chunk's lines, one write (and hash update) per split: per line, the calls cost more than the
    bytes. Returns `done`, the examples written once this chunk is."""
    for split, chunk in lines.items():
        if chunk:
            chunk.append(b"")  # so the join ends the last line too
            targets[split].write(b"\n".join(chunk))
    return done


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def export_directory(export: DatasetExport) -> Path:
    """Where the files of `export` go: MEDIA_ROOT/datasets/<name>/v<version>."""
    return Path(settings.MEDIA_ROOT).resolve() / "datasets" / export.name / f"v{export.version}"


def export_partial_files_remove(export: DatasetExport) -> None:
    """Remove what an unfinished export left behind (a killed worker's `.part` files, files renamed before the
    manifest): its version directory belongs to it alone, and only a finished export keeps one."""
    shutil.rmtree(export_directory(export), ignore_errors=True)


def export_files_write(
    *, export: DatasetExport, plan: ExportPlan, filters: ExportFilters, on_written: Callable[[int], None]
) -> None:
    """Write every file of `export` under MEDIA_ROOT/datasets/<name>/v<version>, all or none.

    Fills in (without saving) the export's counts, prompt version and file entries. `on_written` hears how
    many planned examples were written so far, after each chunk.
    """
    chunk_size = settings.DATASET_EXPORT_CHUNK_SIZE
    media_root = Path(settings.MEDIA_ROOT).resolve()
    directory = export_directory(export)
    directory.mkdir(parents=True, exist_ok=True)
    train_path = directory / f"{export.name}_train.jsonl"
    val_path = directory / f"{export.name}_val.jsonl"
    files = {"train": _HashedFile(train_path), "val": _HashedFile(val_path)}
    try:
        written_ids = {"train": array("q"), "val": array("q")}
        counts = _write_examples(
            export=export,
            plan=plan,
            train=files["train"],
            val=files["val"],
            chunk_size=chunk_size,
            on_written=on_written,
            written_ids=written_ids,
        )
        split_counts = {split: _sorted_counts(values) for split, values in counts.items()}
        export.train_count = sum(counts["train"]["by_category"].values())
        export.val_count = sum(counts["val"]["by_category"].values())
        if export.train_count == 0 or export.val_count == 0:
            raise InvalidInput(
                "The examples changed while the export ran and one split came out empty; start the export again.",
                field="filters",
            )
        export.prompt_version = PROMPT_VERSION
        export.counts = {
            "matched": plan.matched,
            "kept": export.train_count + export.val_count,
            "dropped_by_balancing": plan.matched - plan.kept,
            **split_counts,
            "total": {
                key: dict(sorted((counts["train"][key] + counts["val"][key]).items())) for key in counts["train"]
            },
        }

        files["dataset_info"] = _HashedFile(directory / "dataset_info.json")
        files["dataset_info"].write(_json_bytes(llama_factory_dataset_info(export, train_path, val_path)))
        files["axolotl"] = _HashedFile(directory / "axolotl_datasets.yaml")
        files["axolotl"].write(axolotl_snippet(export.format, train_path, val_path).encode("utf-8"))
        # The JSONL lines are prompts without ids: this file is the link from a split back to its examples
        # (comparisons grade a split's examples against their human labels). Compact: one line per split.
        files["example_ids"] = _HashedFile(directory / "example_ids.json")
        files["example_ids"].write(
            b"{\n"
            + b",\n".join(
                f'"{split}":{json.dumps(ids.tolist(), separators=(",", ":"))}'.encode()
                for split, ids in written_ids.items()
            )
            + b"\n}\n"
        )
        files["guide"] = _HashedFile(directory / "TRAINING_GUIDE.md")
        files["guide"].write(training_guide(export, directory, train_path, val_path).encode("utf-8"))

        manifest = {
            "name": export.name,
            "version": export.version,
            "format": export.format,
            "prompt_version": export.prompt_version,
            "prompt_variant": export.prompt_variant,
            "seed": export.seed,
            "train_share": export.train_share,
            "balance_categories": export.balance_categories,
            "filters": filters.to_json(),
            "train_count": export.train_count,
            "val_count": export.val_count,
            "counts": export.counts,
            "files": {
                key: {"name": file.final.name, "size": file.size, "sha256": file.digest.hexdigest()}
                for key, file in files.items()
            },
        }
        files["manifest"] = _HashedFile(directory / "manifest.json")
        files["manifest"].write(_json_bytes(manifest))
        # The manifest goes into place last: a directory with a manifest is a complete export.
        for file in files.values():
            file.close()
        for file in files.values():
            file.commit()
    except BaseException:
        for file in files.values():
            file.discard()
        with contextlib.suppress(OSError):  # only succeeds when the version directory is empty
            directory.rmdir()
        raise
    export.files = {key: file.entry(media_root) for key, file in files.items()}
