"""`manage.py compare_models`: run an A/B comparison in this process and print its report as a text table
(`comparison_table`, which the demo prints too)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluation.batch import add_concurrency_argument
from ready4hire.errors import DomainError
from training.comparison_report import ESTIMATE_NOTE, TABLE_COLUMNS, table_cell
from training.management.dataset_option import dataset_export_option
from training.models import TrainingExample
from training.services import comparison_create_and_run


def comparison_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table, one row per model (with what a grade cost it: latency, prompt tokens,
    and the system prompt it was sent), then each candidate's improvement and gate."""
    header = ["model", *(title for title, _, _ in TABLE_COLUMNS)]
    rows = [
        [label, *(table_cell(figures, key, kind) for _, key, kind in TABLE_COLUMNS)]
        for label, figures in report["models"].items()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    if any(figures.get("prompt_tokens_source") == "estimate" for figures in report["models"].values()):
        lines.append(ESTIMATE_NOTE)
    for label, improvement in report["improvement"].items():
        qwk, mae = improvement["qwk"], improvement["mae"]
        low, high = qwk["relative_ci"]
        relative = "—" if qwk["relative"] is None else f"{qwk['relative']:+.1%}"
        interval = "" if low is None else f" [95% CI {low:+.1%}, {high:+.1%}]"
        mae_relative = "—" if mae["relative"] is None else f"{mae['relative']:+.1%}"
        lines.append(f"{label} vs {improvement['over']}: QWK {relative}{interval}, MAE reduction {mae_relative}")
        gate = report["gate"][label]
        lines.append(f"  gate {'passed' if gate['passed'] else 'FAILED'}: {'; '.join(gate['reasons'])}")
    return "\n".join(lines + left_out_lines(report))


def left_out_lines(report: dict[str, Any], shown: int = 10) -> list[str]:
    """The rows the comparison did not count, by reason, with their first example ids."""
    left_out = report.get("left_out") or []
    if not left_out:
        return []
    total = sum(entry["count"] for entry in left_out)
    lines = [f"Left out {total} example{'s' if total != 1 else ''} (invalid grades are not left out: they count):"]
    for entry in left_out:
        ids = ", ".join(str(example_id) for example_id in entry["example_ids"][:shown])
        more = ", …" if entry["count"] > shown else ""
        lines.append(f"  {entry['count']} {entry['reason']} (example ids {ids}{more})")
    return lines


def _model(value: str) -> tuple[str, str]:
    label, sep, ref = value.partition("=")
    if not sep or not label.strip() or not ref.strip():
        raise argparse.ArgumentTypeError(f"expected LABEL=REF (e.g. base=llama3.2:3b), got {value!r}")
    return label.strip(), ref.strip()


class Command(BaseCommand):
    help = (
        "Compare two or more models against human scores on human-reviewed examples: grade each example "
        "--repeats times with every model, print the table and write the JSON report. The first model is the "
        "base the others are measured (and gated) against."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", type=int, help="A dataset export id: compare on its --split.")
        parser.add_argument("--split", choices=["train", "val"], default="val")
        parser.add_argument(
            "--models",
            nargs="+",
            type=_model,
            required=True,
            metavar="LABEL=REF",
            help="e.g. base=tiny-base ft=ready4hire:v3. REF: a server model name, NAME:vN, latest or tiny-base; "
            "append @ollama+URL or @openai+URL to grade on another server.",
        )
        parser.add_argument("--repeats", type=int, default=1, help="Grades per model and example (default 1).")
        parser.add_argument("--limit", type=int, help="Compare on the first N examples only.")
        parser.add_argument("--seed", type=int, help="Generation seed of repeat 0 and bootstrap seed.")
        parser.add_argument("--json", type=Path, dest="json_path", help="Write the JSON report here.")
        parser.add_argument(
            "--category", choices=["technical", "soft_skills"], help="Without --dataset: only this category."
        )
        parser.add_argument(
            "--source", choices=TrainingExample.Source.values, help="Without --dataset: only this source."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        add_concurrency_argument(parser)

    def handle(self, *args, dataset, split, models, repeats, limit, seed, json_path, category, source, **options):
        filters = {key: value for key, value in (("category", category), ("source", source)) if value}
        if dataset is not None and filters:
            raise CommandError("--category and --source select examples without --dataset; give one or the other.")
        dataset_export_option(dataset)
        bar = tqdm(unit="grade", desc="Grading", disable=options["no_progress"], file=sys.stderr)

        def on_progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            run = comparison_create_and_run(
                models=models,
                dataset_export_id=dataset,
                split=split,
                filters=filters or None,
                repeats=repeats,
                limit=limit,
                seed=seed,
                on_progress=on_progress,
                concurrency=options["concurrency"],
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        n_examples = len(run.filters.get("example_ids") or [])
        self.stdout.write(f"Comparison #{run.pk}: {n_examples} examples × {run.repeats} repeat(s).\n")
        self.stdout.write(comparison_table(run.report))
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(run.report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            self.stdout.write(self.style.SUCCESS(f"Report written to {json_path}."))
