"""Pushing a Modelfile to the configured Ollama server: local FROM/ADAPTER files uploaded as blobs, then the
model created from the row's Modelfile; and `push_model`'s way in, a Modelfile read from disk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluation.llm.ollama_admin import BlobUpload, OllamaAdminClient
from evaluation.llm.prompts import build_system_prompt
from evaluation.llm.schema import LANGUAGES, PROMPT_VERSION
from ready4hire.errors import DomainError, InvalidInput

from ..modelfile import ModelfileError, ModelfileSpec, parse
from ..models import Modelfile
from .modelfile_jobs import modelfile_job_claim, modelfile_job_finish, modelfile_progress_saver, queue_validate_job
from .modelfiles import checked_model_name, local_source, modelfile_record, render_checked
from .ollama_models import ollama_admin_client, ollama_errors, ollama_server_require

# The files of a safetensors model or adapter directory that Ollama reads; others (optimizer state, READMEs)
# would only make the upload longer.
_MODEL_FILE_SUFFIXES = (".safetensors", ".json", ".gguf", ".jinja")
_MODEL_FILE_NAMES = ("tokenizer.model",)


@dataclass(frozen=True)
class PushResult:
    modelfile: Modelfile
    server: str
    blobs: list[BlobUpload] = field(default_factory=list)


def _blob_files(path: Path) -> list[tuple[str, Path]]:
    """(name in `files`, local path) of what a FROM/ADAPTER path uploads: the file, or the model files of a dir."""
    if path.is_file():
        return [(path.name, path)]
    found = sorted(
        child
        for child in path.iterdir()
        if child.is_file() and (child.suffix in _MODEL_FILE_SUFFIXES or child.name in _MODEL_FILE_NAMES)
    )
    if not found:
        raise InvalidInput(f"{path} has no model files (*.safetensors, *.gguf, *.json, tokenizer.model).")
    return [(child.name, child) for child in found]


def _upload(
    client: OllamaAdminClient, sources: list[tuple[str, Path]], on_progress: Callable[[int, int], None]
) -> tuple[dict[str, str], list[BlobUpload]]:
    total = sum(path.stat().st_size for _, path in sources) or 1
    done = 0
    digests: dict[str, str] = {}
    uploads: list[BlobUpload] = []
    for file_name, path in sources:
        upload = client.push_blob(path, on_progress=lambda sent, before=done: on_progress(before + sent, total))
        done += upload.size
        on_progress(done, total)
        digests[file_name] = upload.digest
        uploads.append(upload)
    return digests, uploads


def _create_request(spec: ModelfileSpec, *, files: dict[str, str], adapters: dict[str, str]) -> dict[str, Any]:
    return {
        "from_": None if files else spec.from_,
        "files": files or None,
        "adapters": adapters or None,
        "system": spec.system,
        "template": spec.template,
        "parameters": spec.parameter_dict() or None,
        "messages": [{"role": role, "content": content} for role, content in spec.messages] or None,
        "license": spec.license,
    }


def modelfile_push(*, modelfile_id: int, then_validate: bool = False) -> PushResult:
    """Create the Modelfile's model on the configured Ollama server: local FROM/ADAPTER files are uploaded as
    blobs (only those the server lacks), then `POST /api/create`. The outcome, or the error, is stored on the
    row. Safe to run twice: uploads are skipped for blobs already there, and creating the same model again
    changes nothing. With `then_validate`, a successful push queues the validation.
    """
    modelfile = modelfile_job_claim(modelfile_id)
    server = settings.OLLAMA_ADMIN_URL
    action = f"Pushing {modelfile.name} to {server or 'Ollama'} failed"
    try:
        spec = parse(modelfile.content)
        base_path = local_source(spec.from_, base_dir=None, what="Base")
        adapter_path = local_source(spec.adapter, base_dir=None, what="Adapter") if spec.adapter else None
        sources = [*_blob_files(base_path)] if base_path else []
        adapter_sources = [*_blob_files(adapter_path)] if adapter_path else []
        with ollama_admin_client() as client, ollama_errors(action):
            save_progress = modelfile_progress_saver(modelfile, 5, 90)
            files, uploads = _upload(client, sources, save_progress)
            adapters, adapter_uploads = _upload(client, adapter_sources, save_progress)
            client.create(model=modelfile.name, **_create_request(spec, files=files, adapters=adapters))
    except (DomainError, ModelfileError, OSError) as exc:
        message = str(exc) if str(exc).startswith(action) else f"{action}: {exc}"
        modelfile_job_finish(modelfile, error=message, push_status=Modelfile.PushStatus.FAILED)
        if isinstance(exc, DomainError):
            raise
        raise InvalidInput(message) from exc  # a local file we could not read, or content that does not parse
    with transaction.atomic():
        modelfile_job_finish(
            modelfile,
            push_status=Modelfile.PushStatus.PUSHED,
            pushed_at=timezone.now(),
            # The server's model changed: a validation of what was there before says nothing about it.
            validation_status=Modelfile.ValidationStatus.NOT_RUN,
            validation={},
            validated_at=None,
        )
        if then_validate:
            queue_validate_job(modelfile)
    return PushResult(modelfile=modelfile, server=server, blobs=[*uploads, *adapter_uploads])


def modelfile_push_file(*, path: Path, name: str, requested_by: Any = None) -> PushResult:
    """Store a Modelfile read from disk as a row and push it (`push_model`). FROM/ADAPTER paths relative to the
    file's directory are made absolute, as Ollama's CLI reads them."""
    name = checked_model_name(name)
    ollama_server_require()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read {path}: {exc}", field="path") from None
    try:
        spec = parse(text)
    except ModelfileError as exc:
        raise InvalidInput(f"{path}: {exc}", field="path") from None
    base_path = local_source(spec.from_, base_dir=path.parent, what="Base")
    adapter_path = local_source(spec.adapter, base_dir=path.parent, what="Adapter") if spec.adapter else None
    spec.from_ = str(base_path) if base_path else spec.from_
    spec.adapter = str(adapter_path) if adapter_path else spec.adapter
    content = render_checked(spec)
    language = next((lang for lang in LANGUAGES if spec.system == build_system_prompt(lang)), "")
    modelfile = modelfile_record(
        name=name,
        base=spec.from_,
        adapter=spec.adapter or "",
        parameters=spec.parameter_dict(),
        system="" if language else (spec.system or ""),
        template=spec.template or "",
        license=spec.license or "",
        few_shot=len(spec.messages) // 2,
        language=language or "es",
        prompt_version=PROMPT_VERSION if language else "",
        content=content,
        requested_by=requested_by,
    )
    return modelfile_push(modelfile_id=modelfile.pk)
