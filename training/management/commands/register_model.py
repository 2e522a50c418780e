"""`manage.py register_model`: register a model trained elsewhere as a model version."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from evaluation.choices import PROMPT_VARIANTS
from ready4hire.errors import DomainError
from training.management.dataset_option import dataset_export_option
from training.models import ModelVersion
from training.services.versions_external import model_version_register_external


class Command(BaseCommand):
    help = (
        "Register a model trained elsewhere (Axolotl, LLaMA-Factory, ...) as the next version of --name, with the "
        "dataset export it was trained on, so it is compared, gated, promoted and routed like one trained here. "
        "--from is a GGUF file, a Hugging Face folder (converted to GGUF first) or an Ollama model name."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The version series, e.g. grader.")
        parser.add_argument("--from", dest="source", required=True, help="GGUF file | HF folder | Ollama model.")
        parser.add_argument("--dataset", type=int, required=True, help="The dataset export it was trained on.")
        parser.add_argument("--category", choices=ModelVersion.Category.values, default=ModelVersion.Category.ALL)
        parser.add_argument(
            "--prompt",
            dest="prompt_variant",
            choices=PROMPT_VARIANTS,
            help="The system prompt it was trained with, which grading then sends it: full or compact (default: "
            "the dataset export's).",
        )

    def handle(self, *args, name: str, source: str, dataset: int, category: str, prompt_variant: str | None, **options):
        try:
            version = model_version_register_external(
                name=name,
                source=source,
                dataset_export_id=dataset_export_option(dataset),
                category=category,
                prompt_variant=prompt_variant,
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        where = version.served_name and f"served as {version.served_name}" or f"GGUF {version.gguf_path}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Registered {version.reference} ({version.origin}; {where}; {version.prompt_variant} prompt)."
            )
        )
        self.stdout.write(
            f"Compare it: python manage.py compare_models --dataset {dataset} --models new={version.reference} ..."
        )
