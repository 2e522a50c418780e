"""`manage.py evaluate`: grade one answer given as arguments, or a JSONL file of grading requests."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from pydantic import ValidationError
from tqdm import tqdm

from evaluation.batch import Outcome, add_concurrency_argument, in_input_order
from evaluation.batch_grading import GradingItem, evaluation_grade_many
from evaluation.models import Evaluation
from evaluation.schemas import EvaluationIn
from evaluation.services import evaluation_submit, llm_enabled


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors())


class Command(BaseCommand):
    help = (
        "Grade one answer given as arguments, or a JSONL file of requests (one JSON object per line with the "
        "fields of POST /api/v1/evaluations)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, help="JSONL file of grading requests.")
        parser.add_argument("--output", type=Path, help="With --file: write one result per line to this JSONL file.")
        parser.add_argument("--question")
        parser.add_argument("--answer")
        parser.add_argument("--concepts", help="Expected concepts, comma-separated.")
        parser.add_argument("--keywords", help="Keywords, comma-separated.")
        parser.add_argument("--category", default="technical", help="technical | soft_skills")
        parser.add_argument("--difficulty", default="mid", help="junior | mid | senior")
        parser.add_argument("--role", default="")
        parser.add_argument("--language", default=None, help="es | en (default: detected from the question and answer)")
        parser.add_argument("--model", help="Override the configured LLM model.")
        parser.add_argument("--json", action="store_true", help="Print the full grade as JSON.")
        add_concurrency_argument(parser)

    def handle(self, *args, **options):
        if not llm_enabled():
            self.stderr.write("Note: no LLM configured (LLM_BACKEND=none); grading with the heuristic grader.")
        if options["file"]:
            return self._grade_file(options["file"], options["output"], options["concurrency"])
        if not options["question"] or not options["answer"]:
            raise CommandError("Give --question and --answer, or --file requests.jsonl.")
        payload = {
            "question": options["question"],
            "answer": options["answer"],
            "expected_concepts": _split(options["concepts"]),
            "keywords": _split(options["keywords"]),
            "category": options["category"],
            "difficulty": options["difficulty"],
            "role": options["role"],
            "language": options["language"],
            "model": options["model"],
        }
        try:
            data = EvaluationIn.model_validate(payload)
        except ValidationError as exc:
            raise CommandError(f"Invalid request: {_describe(exc)}") from None
        evaluation = evaluation_submit(request=data.grading_request(), requested_model=data.model or "")
        if options["json"]:
            self.stdout.write(json.dumps(self._record(evaluation), ensure_ascii=False, indent=2))
            return
        result = evaluation.result
        self.stdout.write(
            f"Evaluation #{evaluation.pk}: score {evaluation.score}/10 ({evaluation.source}, {evaluation.model})"
        )
        self.stdout.write(f"Breakdown: {json.dumps(result['breakdown'])}")
        self.stdout.write(f"Justification: {result['justification']}")
        self.stdout.write(f"Concepts covered: {', '.join(result['concepts_covered']) or '-'}")
        self.stdout.write(f"Missing concepts: {', '.join(result['missing_concepts']) or '-'}")
        if evaluation.error:
            self.stdout.write(f"LLM problem (fell back to the heuristic): {evaluation.error}")

    @staticmethod
    def _record(evaluation) -> dict:
        return {
            "id": evaluation.pk,
            "status": evaluation.status,
            "source": evaluation.source,
            "model": evaluation.model,
            "from_cache": evaluation.from_cache,
            "latency_ms": evaluation.latency_ms,
            "result": evaluation.result,
            "llm_error": evaluation.error,
        }

    def _grade_file(self, path: Path, output: Path | None, concurrency: int | None) -> None:
        if not path.is_file():
            raise CommandError(f"File not found: {path}")
        lines = path.read_text(encoding="utf-8").splitlines()
        sources: Counter[str] = Counter()
        failures: list[str] = []
        numbers: list[int] = []
        items: list[GradingItem] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = EvaluationIn.model_validate_json(line)
            except ValidationError as exc:
                failures.append(f"line {number}: {_describe(exc)}")
                continue
            numbers.append(number)
            items.append(GradingItem(request=data.grading_request(), requested_model=data.model or ""))
        errors: list[str] = []
        cached = 0
        bar = tqdm(total=len(items), desc="Grading", unit="answer", file=sys.stderr)
        out = output.open("w", encoding="utf-8") if output else None

        def on_item(outcome: Outcome[Evaluation | Exception]) -> None:
            nonlocal cached
            number, evaluation = numbers[outcome.index], outcome.value
            if isinstance(evaluation, Exception):
                errors.append(f"line {number}: {type(evaluation).__name__}: {evaluation}")
                record = {"line": number, "status": "failed", "error": str(evaluation)}
            else:
                sources[evaluation.source] += 1
                cached += evaluation.from_cache
                record = {"line": number, **self._record(evaluation)}
            if out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")

        # The results file keeps the input's order whatever order the grades finish in.
        in_order = in_input_order(on_item)

        def on_done(index: int, result: Evaluation | Exception) -> None:
            bar.update(1)
            in_order(Outcome(index, value=result))

        try:
            evaluation_grade_many(items=items, concurrency=concurrency, on_done=on_done)
        finally:
            bar.close()
            if out:
                out.close()
        graded = sum(sources.values())
        by_source = ", ".join(f"{source}: {count}" for source, count in sorted(sources.items())) or "none"
        self.stdout.write(f"Graded {graded} answers ({by_source}; from cache: {cached}).")
        if output:
            self.stdout.write(f"Results written to {output}")
        if failures:
            self.stderr.write(f"{len(failures)} invalid lines were skipped:")
            for failure in failures[:50]:
                self.stderr.write(f"  {failure}")
            raise CommandError(f"{len(failures)} of {len(failures) + graded} requests were invalid (see above).")
        if errors:
            self.stderr.write(f"{len(errors)} requests could not be graded:")
            for error in errors[:50]:
                self.stderr.write(f"  {error}")
            raise CommandError(f"{len(errors)} of {len(items)} requests failed (see above).")
