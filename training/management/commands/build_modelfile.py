"""`manage.py build_modelfile`: write an Ollama Modelfile for the grader."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ready4hire.errors import DomainError
from training.management.dataset_option import dataset_export_option
from training.modelfile import PARAMETER_TYPES
from training.services import (
    modelfile_build,
    modelfile_default_path,
    parameter_assignments_parse,
)


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from None


class Command(BaseCommand):
    help = (
        "Build an Ollama Modelfile for the grader: FROM a model name, GGUF file or safetensors directory, an "
        "optional ADAPTER, grading PARAMETERs, the grading instructions and schema as SYSTEM, and optional few-shot "
        "MESSAGE pairs from a dataset export. Stores it (see the admin and /api/v1/modelfiles) and writes the file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="base", required=True, help="Ollama model name, GGUF file or directory.")
        parser.add_argument("--name", required=True, help="The model's name on the Ollama server.")
        parser.add_argument("--adapter", default="", help="A LoRA adapter (GGUF file or safetensors directory).")
        parser.add_argument("--dataset", type=int, metavar="ID", help="Dataset export to draw few-shot pairs from.")
        parser.add_argument("--few-shot", type=int, metavar="N", help="Few-shot pairs (default 3 with --dataset).")
        parser.add_argument("--language", choices=("es", "en"), default="es", help="Language of the prompt.")
        parser.add_argument(
            "--parameter",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help=f"Repeatable; one of {', '.join(PARAMETER_TYPES)}. NAME= removes a default.",
        )
        parser.add_argument("--system-file", type=Path, help="SYSTEM from this file instead of the grading prompt.")
        parser.add_argument("--template-file", type=Path, help="TEMPLATE from this file.")
        parser.add_argument("--license-file", type=Path, help="LICENSE from this file.")
        parser.add_argument(
            "-o", "--output", type=Path, help="Where to write it (default MEDIA_ROOT/modelfiles/NAME/Modelfile)."
        )

    def handle(self, *args, base: str, name: str, output: Path | None, **options) -> None:
        try:
            parameters = parameter_assignments_parse(options["parameter"])
            path = output or modelfile_default_path(name=name)
            modelfile = modelfile_build(
                name=name,
                base=base,
                adapter=options["adapter"],
                parameters=parameters,
                system=_read(options["system_file"]),
                template=_read(options["template_file"]),
                license=_read(options["license_file"]),
                language=options["language"],
                dataset_export_id=dataset_export_option(options["dataset"]),
                few_shot=options["few_shot"],
                write_to=path,
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Modelfile #{modelfile.pk} for {modelfile.name} written to {path}")
        self.stdout.write(
            f"FROM {modelfile.base}" + (f" with ADAPTER {modelfile.adapter}" if modelfile.adapter else "")
        )
        shown = ", ".join(f"{key}={value}" for key, value in modelfile.parameters.items())
        self.stdout.write(f"Parameters: {shown}")
        if modelfile.dataset_export_id:
            asked = options["few_shot"]
            note = (
                f" (of {asked} asked: the export has no more in {modelfile.language})"
                if asked and asked > modelfile.few_shot
                else ""
            )
            self.stdout.write(
                f"Few-shot pairs: {modelfile.few_shot} from dataset export #{modelfile.dataset_export_id}{note}"
            )
        self.stdout.write(f"Push it with: python manage.py push_model {path} --name {modelfile.name}")
