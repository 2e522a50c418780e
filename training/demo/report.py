"""What `manage.py demo` prints about its steps, as plain-text lines: the sample grades, the collection
statistics with a text histogram of the scores, the export's files and the fine-tune run."""

from __future__ import annotations

from ..models import DatasetExport, FineTuneRun
from ..selectors import collection_settings_get, dataset_export_paths, training_stats
from .steps import SampleGrade


def grades_table_lines(grades: list[SampleGrade]) -> list[str]:
    width = max(len(grade.question) for grade in grades) if grades else 10
    lines = [
        f"{'question'.ljust(width)}  lang  {'answer'.ljust(9)}  score  source",
        f"{'-' * width}  ----  ---------  -----  ---------",
    ]
    lines += [
        f"{grade.question.ljust(width)}  {grade.language.ljust(4)}  {grade.quality.ljust(9)}  {grade.score:5.1f}  "
        f"{grade.source}"
        for grade in grades
    ]
    return lines


def export_lines(export: DatasetExport) -> list[str]:
    lines = [f"{export} : {export.train_count} train / {export.val_count} validation examples"]
    lines += [f"  {key:<12} {path}" for key, path in dataset_export_paths(export=export).items()]
    return lines


def _counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{name} {count}" for name, count in counts.items()) or "—"


def stats_lines() -> list[str]:
    """The collection statistics as a few lines of plain text, with a text histogram of the scores."""
    stats = training_stats()
    settings = collection_settings_get()
    status = stats["by_review_status"]
    lines = [
        f"{stats['total_examples']} training examples: {status['pending']} pending review, "
        f"{status['approved']} approved, {status['rejected']} rejected ({stats['reviewed_share']:.0%} reviewed)",
        f"collection {'on' if settings.enabled else 'off'}: score ≥ {settings.min_score_threshold:g} from "
        f"{', '.join(settings.sources) or 'no source'}",
        f"by source:      {_counts(stats['by_source'])}",
        f"by category:    {_counts(stats['by_category'])}",
        f"by difficulty:  {_counts(stats['by_difficulty'])}",
        "scores:",
    ]
    largest = max(stats["score_distribution"].values(), default=0) or 1
    for bucket, count in stats["score_distribution"].items():
        lines.append(f"  {bucket:>5}  {'█' * round(30 * count / largest):<30} {count}")
    return lines


def finetune_lines(run: FineTuneRun) -> list[str]:
    """The run's steps, time and losses (only those it measured), then the files and versions it made."""
    metrics, outputs = run.metrics, run.outputs
    summary = f"fine-tune run #{run.pk}: {run.step} steps"
    if metrics.get("train_seconds") is not None:
        summary += f" in {metrics['train_seconds']:.0f} s"
    if metrics.get("final_train_loss") is not None:
        summary += f", training loss {metrics['final_train_loss']:.3f}"
    if metrics.get("eval_loss"):
        summary += f", validation loss {metrics['eval_loss'][-1]['loss']:.3f}"
    keys = ("version", "base_version", "gguf", "base_gguf", "modelfile")
    return [summary, *(f"{key:<13} {outputs[key]}" for key in keys if outputs.get(key))]
