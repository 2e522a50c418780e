from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from evaluation.models import Question
from evaluation.question_bank import question_bank_load
from evaluation.services import evaluation_submit, llm_enabled
from training.demo import (
    DEMO_REVIEW_NOTE,
    demo_collection,
    demo_export,
    demo_finetune_and_compare,
    demo_modelfile,
    demo_review,
    export_lines,
    practice_set_grade,
    stats_lines,
)
from training.services import comparison_table


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
            "--compare-limit", type=int, default=24, help="Validation examples graded by each model (default 24)."
        )

    def handle(self, *args, num_samples: int, output_dir: Path, **options):
        for option in ("num_samples", "compare_limit"):
            if (num_samples if option == "num_samples" else options[option]) < 1:
                raise CommandError(f"--{option.replace('_', '-')} must be at least 1.")
        if options["practice_subsets"] < 0:
            raise CommandError("--practice-subsets must be 0 or more.")
        self.stdout.write(self.style.MIGRATE_HEADING("1. Database"))
        call_command("migrate", verbosity=0, interactive=False)
        self.stdout.write(f"   migrated ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})")

        self.stdout.write(self.style.MIGRATE_HEADING("2. Question bank"))
        summary = question_bank_load()
        self.stdout.write(f"   {Question.objects.count()} questions ({summary})")

        self.stdout.write(self.style.MIGRATE_HEADING("3. Grading sample answers"))
        if llm_enabled():
            self.stdout.write(f"   LLM: {settings.LLM_BACKEND} at {settings.LLM_BASE_URL}, model {settings.LLM_MODEL}")
        else:
            self.stdout.write(
                self.style.WARNING(
                    "   No LLM configured: grading with the heuristic grader. To grade with a model, set "
                    "LLM_BACKEND=ollama LLM_MODEL=llama3.2:3b (and LLM_BASE_URL if Ollama is not on localhost:11434)."
                )
            )
        questions = _pick_questions(num_samples)
        rows = []
        output_dir.mkdir(parents=True, exist_ok=True)
        grades_path = output_dir / "demo_grades.jsonl"
        with (
            grades_path.open("w", encoding="utf-8") as out,
            demo_collection(enabled=not llm_enabled()) as collecting_heuristic,
        ):
            for index, question in enumerate(questions):
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
                    evaluation = evaluation_submit(
                        request=question.grading_request(answer), question=question, wait=True
                    )
                    rows.append((question.key, question.language, quality, evaluation.score, evaluation.source))
                    out.write(
                        json.dumps(
                            {
                                "question": question.key,
                                "quality": quality,
                                "evaluation_id": evaluation.pk,
                                "source": evaluation.source,
                                "result": evaluation.result,
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )

        width = max(len(row[0]) for row in rows) if rows else 10
        self.stdout.write(f"\n   {'question'.ljust(width)}  lang  {'answer'.ljust(9)}  score  source")
        self.stdout.write(f"   {'-' * width}  ----  ---------  -----  ---------")
        for key, lang, quality, score, source in rows:
            self.stdout.write(f"   {key.ljust(width)}  {lang.ljust(4)}  {quality.ljust(9)}  {score:5.1f}  {source}")
        self.stdout.write(f"\n   Grades written to {grades_path}")

        self.stdout.write(self.style.MIGRATE_HEADING("4. Grading a practice set (the training data)"))
        with demo_collection(enabled=not llm_enabled()):
            graded = practice_set_grade(subsets=options["practice_subsets"])
        self.stdout.write(
            f"   {graded} answers of every quality to the {Question.objects.count()} bank questions graded"
        )

        self.stdout.write(self.style.MIGRATE_HEADING("5. Collection statistics"))
        if collecting_heuristic:
            self.stdout.write(
                "   (for the demo, heuristic grades of every score were collected; by default only LLM and human "
                "grades of 3 or more are)"
            )
        for line in stats_lines():
            self.stdout.write(f"   {line}")

        self.stdout.write(self.style.MIGRATE_HEADING("6. Review"))
        approved = demo_review()
        self.stdout.write(
            self.style.WARNING(f"   {approved} pending examples approved automatically, noted as '{DEMO_REVIEW_NOTE}'.")
        )
        self.stdout.write("   Real reviews happen in the admin: /admin/training/trainingexample/")

        self.stdout.write(self.style.MIGRATE_HEADING("7. Dataset export"))
        export = demo_export()
        for line in export_lines(export):
            self.stdout.write(f"   {line}")

        self.stdout.write(self.style.MIGRATE_HEADING("8. Ollama Modelfile"))
        modelfile = demo_modelfile(output_dir=output_dir)
        self.stdout.write(
            f"   {output_dir / 'Modelfile'}: FROM {modelfile.base}, {modelfile.few_shot} few-shot pairs from {export}"
        )
        self.stdout.write(
            f"   Push it with: python manage.py push_model {output_dir / 'Modelfile'} --name {modelfile.name}"
        )

        self.stdout.write(self.style.MIGRATE_HEADING("9. Tiny fine-tune, GGUF, llama.cpp, comparison"))
        self.stdout.write(
            "   training a tiny model from scratch on the export (a few minutes on a CPU; progress: "
            "/admin/training/finetunerun/)…"
        )
        self.stdout.flush()
        models = demo_finetune_and_compare(
            export=export, steps=options["finetune_steps"], limit=options["compare_limit"]
        )
        if models.run is not None:
            outputs = models.run.outputs
            metrics = models.run.metrics
            summary = f"   fine-tune run #{models.run.pk}: {models.run.step} steps"
            if metrics.get("train_seconds") is not None:
                summary += f" in {metrics['train_seconds']:.0f} s"
            if metrics.get("final_train_loss") is not None:
                summary += f", training loss {metrics['final_train_loss']:.3f}"
            if metrics.get("eval_loss"):
                summary += f", validation loss {metrics['eval_loss'][-1]['loss']:.3f}"
            self.stdout.write(summary)
            for key in ("version", "base_version", "gguf", "base_gguf", "modelfile"):
                if outputs.get(key):
                    self.stdout.write(f"   {key:<13} {outputs[key]}")
        if models.skipped:
            self.stdout.write(self.style.WARNING(f"   Skipped: {models.skipped}"))
        if models.comparison is not None:
            self.stdout.write("")
            for line in comparison_table(models.comparison.report).splitlines():
                self.stdout.write(f"   {line}")
        self.stdout.write(self.style.SUCCESS("\nDemo finished."))
