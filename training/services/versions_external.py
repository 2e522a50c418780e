"""Models trained elsewhere (Axolotl, LLaMA-Factory, a GPU box): registered as versions with the dataset
export they were trained on, so they are compared, gated, promoted and routed like one trained here.

A source is a GGUF file, a Hugging Face checkpoint folder (converted to GGUF here, before anything is
stored), or the name of a model already on the Ollama server. Paths are confined to the allowed model
folders; nothing is registered when a check or the conversion fails.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from evaluation.choices import PROMPT_VARIANTS
from ready4hire.errors import InvalidInput
from ready4hire.paths import looks_like_path, path_confine

from ..models import DatasetExport, JobStatus, ModelVersion
from .versions import model_version_register

GGUF_MAGIC = b"GGUF"
NAME_PATTERN = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
# An Ollama model name: optional namespace, name, optional tag (llama3.2:3b, team/grader:q4_k_m).
OLLAMA_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9_.]*(/[a-zA-Z0-9][-a-zA-Z0-9_.]*)?(:[-a-zA-Z0-9_.]+)?$")


def _dataset(dataset_export_id: int) -> DatasetExport:
    export = DatasetExport.objects.filter(pk=dataset_export_id).first()
    if export is None:
        raise InvalidInput(f"Dataset export {dataset_export_id} does not exist.", field="dataset_export_id")
    if export.status != JobStatus.DONE:
        raise InvalidInput(f"Dataset export {export.pk} is {export.status}, not done.", field="dataset_export_id")
    return export


def _gguf_file(path: Path) -> Path:
    if not path.is_file():
        raise InvalidInput(f"GGUF file {path} does not exist in the allowed model folders.", field="source")
    with path.open("rb") as file:
        if file.read(4) != GGUF_MAGIC:
            raise InvalidInput(f"{path} is not a GGUF file (no GGUF header).", field="source")
    return path


def _converted(folder: Path, name: str) -> Path:
    """The checkpoint in `folder` as GGUF under the fine-tune output root (registered/<name>-<id>/model.gguf)."""
    from ..finetune.deps import missing_packages
    from ..finetune.errors import GGUFConversionError

    if not (folder / "config.json").is_file():
        raise InvalidInput(f"{folder} has no config.json: not a Hugging Face model folder.", field="source")
    missing = missing_packages(("gguf", "safetensors", "torch"))
    if missing:
        raise InvalidInput(
            f"Converting a checkpoint to GGUF needs the [train] extra (missing: {', '.join(missing)}).",
            field="source",
        )
    from ..finetune.gguf_writer import convert_to_gguf

    root = Path(settings.FINETUNE_OUTPUT_ROOT or Path(settings.MEDIA_ROOT) / "finetune")
    out_dir = root / "registered" / f"{name}-{uuid.uuid4().hex[:12]}"
    try:
        return convert_to_gguf(
            folder, out_dir / "model.gguf", dtype=settings.FINETUNE_GGUF_DTYPE, llama_cpp_dir=settings.LLAMA_CPP_DIR
        )
    except GGUFConversionError as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise InvalidInput(f"{folder} cannot be converted to GGUF: {exc}", field="source") from None
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def model_version_register_external(
    *,
    name: str,
    source: str,
    dataset_export_id: int,
    category: str = ModelVersion.Category.ALL,
    prompt_variant: str | None = None,
) -> ModelVersion:
    """Register a model trained elsewhere as the next version of `name`, trained on `dataset_export_id`.

    `source` is a GGUF file, a Hugging Face folder (converted to GGUF first) or an Ollama model name (served
    as it is, so the version starts as created on the server). `prompt_variant`: the system prompt it was
    trained with, which grading sends it (default: the dataset export's).
    """
    if not NAME_PATTERN.match(name or ""):
        raise InvalidInput("name must be 1-100 letters, digits, hyphens or underscores.", field="name")
    if category not in ModelVersion.Category.values:
        raise InvalidInput(
            f"Unknown category {category!r}: use one of {', '.join(ModelVersion.Category.values)}.", field="category"
        )
    if prompt_variant is not None and prompt_variant not in PROMPT_VARIANTS:
        raise InvalidInput(
            f"Unknown prompt variant {prompt_variant!r}; choose one of {', '.join(PROMPT_VARIANTS)}.",
            field="prompt_variant",
        )
    export = _dataset(dataset_export_id)
    source = (source or "").strip()
    if not source:
        raise InvalidInput("Give a GGUF file, a Hugging Face folder or an Ollama model name.", field="source")
    fields: dict[str, str] = {}
    converted: Path | None = None
    if looks_like_path(source):
        path = path_confine(source, field="source")
        if path.is_dir():
            converted = _converted(path, name)
            fields = {"gguf_path": str(converted), "origin": f"Hugging Face folder {path}"}
        else:
            fields = {"gguf_path": str(_gguf_file(path)), "origin": f"GGUF file {path}"}
    elif OLLAMA_NAME.match(source):
        fields = {"served_name": source, "origin": f"Ollama model {source}", "status": ModelVersion.Status.CREATED}
    else:
        raise InvalidInput(
            f"{source!r} is neither a path nor an Ollama model name (name[:tag], e.g. grader:q4_k_m).", field="source"
        )
    try:
        with transaction.atomic():
            version = model_version_register(name=name, dataset_export=export, prompt_variant=prompt_variant, **fields)
    except BaseException:
        if converted is not None:  # no GGUF of a version that was never registered stays behind
            shutil.rmtree(converted.parent, ignore_errors=True)
        raise
    return version
