"""`manage.py demo` (what `make demo` runs): the whole loop on the local set-up, one heading per step. The steps
live in `training.demo.steps`, the lines it prints in `training.demo.report`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from evaluation.models import Question
from evaluation.question_bank import question_bank_load
from evaluation.services import llm_enabled
from training.demo.progress import progress_bar
from training.demo.report import export_lines, finetune_lines, grades_table_lines, stats_lines
from training.demo.steps import (
    DEMO_REVIEW_NOTE,
    demo_collection,
    demo_export,
    demo_finetune_and_compare,
    demo_modelfile,
    demo_review,
    demo_reviewer,
    practice_set_grade,
    sample_answers_grade,
)
from training.management.commands.compare_models import comparison_table
from training.models import TrainingExample

RUNSERVER = ".venv/bin/python manage.py runserver"
ADMIN = "http://127.0.0.1:8000/admin"


class Command(BaseCommand):
    help = (
        "Run the whole loop on the local set-up: grade sample answers, collect them, review (automatically, "
        "labelled as demo), export a dataset, build a Modelfile, fine-tune a tiny model and compare it with "
        "its base."
    )

    def add_arguments(self, parser):
        parser.add_argument("--num-samples", type=int, default=4, help="How many questions to grade (3 answers each).")
        parser.add_argument(
            "--output-dir", type=Path, default=Path("demo-output"), help="Where the demo writes its files."
        )
        parser.add_argument(
            "--practice-subsets",
            type=int,
            default=3,
            help="Extra partial answers graded per bank question for the training set (default 3: ~480 grades).",
        )
        parser.add_argument(
            "--finetune-steps", type=int, default=None, help="Training steps of the tiny fine-tune (default 800)."
        )
        parser.add_argument(
            "--compare-limit", type=int, default=48, help="Validation examples graded by each model (default 48)."
        )
        parser.add_argument(
            "--serve-gguf",
            action="store_true",
            help="Compare the GGUF files served by llama.cpp (the [serve] extra) instead of the checkpoints in "
            "this process.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def heading(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(text))

    def lines(self, lines: list[str]) -> None:
        for line in lines:
            self.stdout.write(f"   {line}")

    def bar(self, description: str, unit: str):
        self.stdout.flush()
        return progress_bar(description, unit, out=self.stderr, enabled=not self.no_progress)

    def handle(self, *args, output_dir: Path, **options):
        self.no_progress = options["no_progress"]
        for option in ("num_samples", "compare_limit"):
            if options[option] < 1:
                raise CommandError(f"--{option.replace('_', '-')} must be at least 1.")
        if options["practice_subsets"] < 0:
            raise CommandError("--practice-subsets must be 0 or more.")
        self.heading("1. Database")
        call_command("migrate", verbosity=0, interactive=False)
        self.stdout.write(f"   migrated ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})")

        self.heading("2. Question bank")
        summary = question_bank_load()
        self.stdout.write(f"   {Question.objects.count()} questions ({summary})")

        self.heading("3. Grading sample answers")
        if llm_enabled():
            self.stdout.write(f"   LLM: {settings.LLM_BACKEND} at {settings.LLM_BASE_URL}, model {settings.LLM_MODEL}")
        else:
            self.stdout.write(
                self.style.WARNING(
                    "   No LLM configured: grading with the heuristic grader. To grade with a model, set "
                    "LLM_BACKEND=ollama LLM_MODEL=llama3.2:3b (and LLM_BASE_URL if Ollama is not on localhost:11434)."
                )
            )
        output_dir.mkdir(parents=True, exist_ok=True)
        grades_path = output_dir / "demo_grades.jsonl"
        with demo_collection(enabled=not llm_enabled()) as collecting_heuristic:
            grades = sample_answers_grade(count=options["num_samples"], grades_path=grades_path)
        self.stdout.write("")
        self.lines(grades_table_lines(grades))
        self.stdout.write(f"\n   Grades written to {grades_path}")

        self.heading("4. Grading a practice set (the training data)")
        with demo_collection(enabled=not llm_enabled()), self.bar("grading", "answers") as progress:
            graded = practice_set_grade(subsets=options["practice_subsets"], on_progress=progress)
        self.stdout.write(
            f"   {graded} answers of every quality to the {Question.objects.count()} bank questions graded"
        )

        self.heading("5. Collection statistics")
        if collecting_heuristic:
            self.stdout.write(
                "   (for the demo, heuristic grades of every score were collected; by default only LLM and human "
                "grades of 3 or more are)"
            )
        self.lines(stats_lines())

        self.heading("6. Review")
        approved = demo_review()
        self.stdout.write(
            self.style.WARNING(f"   {approved} pending examples approved automatically, noted as '{DEMO_REVIEW_NOTE}'.")
        )
        left = TrainingExample.objects.filter(review_status=TrainingExample.ReviewStatus.PENDING).count()
        self.stdout.write(f"   {left} examples the graders disagree on most are left for people to review.")
        self.stdout.write(f"   Real reviews happen in the admin; start it with: {RUNSERVER}")
        login = demo_reviewer()
        if login:
            self.stdout.write(
                f"   then review as {login[0]} (password {login[1]}) at {ADMIN}/training/trainingexample/review/"
            )
        else:
            self.stdout.write(f"   then open {ADMIN}/training/trainingexample/review/")

        self.heading("7. Dataset export")
        export = demo_export()
        self.lines(export_lines(export))

        self.heading("8. Ollama Modelfile")
        modelfile = demo_modelfile(output_dir=output_dir)
        self.stdout.write(
            f"   {output_dir / 'Modelfile'}: FROM {modelfile.base}, {modelfile.few_shot} few-shot pairs from {export}"
        )
        self.stdout.write(
            f"   Push it with: python manage.py push_model {output_dir / 'Modelfile'} --name {modelfile.name}"
        )

        self.heading("9. Tiny fine-tune and comparison with its base")
        self.stdout.write(
            "   training a tiny model from scratch on the export (a random-initialised 2-layer grader, CPU only)"
        )
        with self.bar("fine-tune", "steps") as train_progress, self.bar("comparing", "grades") as grade_progress:
            models = demo_finetune_and_compare(
                export=export,
                steps=options["finetune_steps"],
                limit=options["compare_limit"],
                serve_gguf=options["serve_gguf"],
                on_train=lambda progress: train_progress(progress.step, progress.max_steps),
                on_grade=grade_progress,
            )
        if models.run is not None:
            self.lines(finetune_lines(models.run))
        if models.skipped:
            self.stdout.write(self.style.WARNING(f"   Skipped: {models.skipped}"))
        if models.comparison is not None:
            comparison = models.comparison
            examples = len(comparison.filters.get("example_ids") or [])
            self.stdout.write(
                f"\n   Comparison #{comparison.pk}: both models graded {examples} validation examples "
                f"{models.served_by}, against the approved scores:"
            )
            self.lines(comparison_table(comparison.report).splitlines())
            self.stdout.write(
                f"   In the admin ({RUNSERVER}): {ADMIN}/training/comparisonrun/{comparison.pk}/change/ and "
                f"{ADMIN}/training/finetunerun/{models.run.pk}/change/"
            )
        self.stdout.write(self.style.SUCCESS("\nDemo finished."))
