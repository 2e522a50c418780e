from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from evaluation.models import Question
from evaluation.question_bank import question_bank_load
from evaluation.services import evaluation_submit, llm_enabled
from training.demo import heuristic_collection, stats_lines


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
    help = "Run the whole loop on the local set-up: migrate, load the question bank, grade sample answers."

    def add_arguments(self, parser):
        parser.add_argument("--num-samples", type=int, default=4, help="How many questions to grade (3 answers each).")
        parser.add_argument(
            "--output-dir", type=Path, default=Path("demo-output"), help="Where the demo writes its files."
        )

    def handle(self, *args, num_samples: int, output_dir: Path, **options):
        if num_samples < 1:
            self.stderr.write("--num-samples must be at least 1.")
            raise SystemExit(2)
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
            heuristic_collection(enabled=not llm_enabled()) as collecting_heuristic,
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

        self.stdout.write(self.style.MIGRATE_HEADING("4. Collection statistics"))
        if collecting_heuristic:
            self.stdout.write("   (heuristic grades were collected for this demo; by default only LLM and human are)")
        for line in stats_lines():
            self.stdout.write(f"   {line}")
        self.stdout.write("   Review them in the admin: /admin/training/trainingexample/ (statistics: …/statistics/)")
        self.stdout.write(self.style.SUCCESS("\nDemo finished."))
