"""Model versions: look them up, resolve a model reference to something we can grade with, and route a
grading request's category to the active version.

A model reference is one of
- a model name on the configured LLM server (`llama3.2:3b`);
- a version, `NAME:vN` (`ready4hire:v3`): its served name on the configured server, or its GGUF file, which
  a comparison serves with llama.cpp while it runs;
- `latest`: the newest fine-tuned version; `tiny-base`: the newest base version (the random-initialised
  starting point an `--init-tiny` run registers), so base and fine-tuned can be compared;
- a path: a GGUF file inside the allowed model folders (ready4hire.paths), served like a version's file;
- a version followed by `@local` (`latest@local`): its checkpoint, run in this process with transformers (the
  `local` backend, no server); a version with only a GGUF file runs that way too when llama.cpp ([serve]) is
  not installed;
and may name another server after an `@`: `llama3.2:3b@ollama+http://10.0.0.5:11434`,
`ready4hire:v3@openai+http://127.0.0.1:8080`, so two servers can be compared side by side.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Case, IntegerField, QuerySet, Value, When

from evaluation.choices import PromptVariant
from evaluation.llm.clients import CLIENTS
from ready4hire.errors import InvalidInput, NotFound
from ready4hire.lookups import cached_lookup
from ready4hire.paths import looks_like_path, path_confine

from ..models import ModelVersion

LATEST = "latest"
TINY_BASE = "tiny-base"
LOCAL_BACKEND = "local"  # a version's checkpoint run in this process (evaluation/llm/local.py)
GGUF_BACKEND = "gguf"  # served by llama.cpp's OpenAI-compatible server for the length of a comparison

_VERSION_REFERENCE = re.compile(r"^(?P<name>[-\w]+):v(?P<version>\d+)$")
_SERVER = re.compile(r"^(?P<backend>[a-z]+)\+(?P<url>https?://\S+)$")

Category = ModelVersion.Category
Status = ModelVersion.Status


@dataclass(frozen=True)
class ModelReference:
    """What a reference resolves to: the server (or GGUF file) and model name a comparison grades with."""

    ref: str
    backend: str
    base_url: str
    model: str
    version_id: int | None = None
    gguf_path: str = ""
    # The system prompt the version was trained with, which a comparison sends it; full for a model that is
    # no version of ours (a server model name, a GGUF path).
    prompt_variant: str = PromptVariant.FULL

    def contender(self, label: str) -> dict:
        """The JSON a `ComparisonRun` keeps for each model it compares."""
        return {"label": label, **asdict(self)}


def model_version_get(*, version_id: int) -> ModelVersion:
    try:
        return ModelVersion.objects.select_related("run", "dataset_export", "promoted_by").get(pk=version_id)
    except ModelVersion.DoesNotExist:
        raise NotFound(f"Model version {version_id} does not exist.", field="id") from None


def model_version_list(
    *, status: str | None = None, category: str | None = None, kind: str | None = None
) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.select_related("promoted_by")
    filters = {"status": status, "category": category, "kind": kind}
    return versions.filter(**{field: value for field, value in filters.items() if value is not None}).order_by(
        "name", "-version"
    )


def model_version_get_by_reference(*, ref: str) -> ModelVersion:
    """The version a reference names: `NAME:vN`, `latest`, `tiny-base`, or a database id."""
    ref = ref.strip()
    version = _version_for(ref)
    if version is None and ref.isdigit():
        return model_version_get(version_id=int(ref))
    if version is None:
        raise NotFound(f"{ref!r} names no model version: use NAME:vN (e.g. ready4hire:v3), latest or tiny-base.")
    return version


def _version_for(ref: str) -> ModelVersion | None:
    """The version `ref` names, None when it names none (a server model name); NotFound for a missing one."""
    if ref == LATEST:
        version = ModelVersion.objects.filter(kind=ModelVersion.Kind.FINETUNED).order_by("-created_at", "-pk").first()
        if version is None:
            raise NotFound("'latest' names the newest fine-tuned version, and there is none yet.", field="ref")
        return version
    if ref == TINY_BASE:
        version = ModelVersion.objects.filter(kind=ModelVersion.Kind.BASE).order_by("-created_at", "-pk").first()
        if version is None:
            raise NotFound(
                "'tiny-base' names the newest base version, and there is none yet: an --init-tiny fine-tune "
                "registers one.",
                field="ref",
            )
        return version
    match = _VERSION_REFERENCE.match(ref)
    # `NAME:vN` is a version only when NAME is one of ours: a server may well tag its own models `:v2`.
    if match is None or not ModelVersion.objects.filter(name=match["name"]).exists():
        return None
    version = ModelVersion.objects.filter(name=match["name"], version=int(match["version"])).first()
    if version is None:
        raise NotFound(f"There is no version {ref!r}.", field="ref")
    return version


def _server(spec: str | None, ref: str) -> tuple[str, str]:
    if spec is not None:
        match = _SERVER.match(spec)
        servers = sorted(set(CLIENTS) - {LOCAL_BACKEND})  # `@local` takes a version's checkpoint, never a URL
        if match is None or match["backend"] not in servers:
            raise InvalidInput(
                f"{ref!r}: name a server as MODEL@BACKEND+URL with BACKEND one of {', '.join(servers)}, "
                "e.g. llama3.2:3b@ollama+http://127.0.0.1:11434 (or VERSION@local to run a version here).",
                field="ref",
            )
        return match["backend"], match["url"]
    if settings.LLM_BACKEND not in CLIENTS:
        raise InvalidInput(
            f"{ref!r}: no LLM server is configured (LLM_BACKEND={settings.LLM_BACKEND}); configure one or name "
            "it in the reference, e.g. llama3.2:3b@ollama+http://127.0.0.1:11434.",
            field="ref",
        )
    return settings.LLM_BACKEND, settings.LLM_BASE_URL


def _gguf_file_reference(ref: str, path: str, *, served_elsewhere: bool) -> ModelReference:
    """A reference that looks like a path is a path, never a server's model name: a GGUF file inside the
    allowed model folders, served with llama.cpp for the comparison."""
    gguf = path_confine(path, field="ref")
    if served_elsewhere or gguf.suffix.lower() != ".gguf" or not gguf.is_file():
        raise InvalidInput(f"{ref!r}: a path must name a GGUF file in the allowed model folders.", field="ref")
    return ModelReference(ref=ref, backend=GGUF_BACKEND, base_url="", model=gguf.stem, gguf_path=str(gguf))


def version_checkpoint(version: ModelVersion) -> str:
    """The Hugging Face checkpoint its fine-tune run left for `version` ('' when there is none): the tiny
    base's starting point, or the fine-tuned (merged) model."""
    outputs = version.run.outputs if version.run_id else {}
    path = outputs.get("base_dir" if version.kind == ModelVersion.Kind.BASE else "merged") or ""
    return path if path and (Path(path) / "config.json").is_file() else ""


def _local_reference(ref: str, version: ModelVersion) -> ModelReference:
    checkpoint = version_checkpoint(version)
    if not checkpoint:
        raise InvalidInput(f"{version.reference} has no checkpoint of its own to run here.", field="ref")
    return _version_reference(version, ref=ref, backend=LOCAL_BACKEND, base_url=checkpoint, model=version.reference)


def _version_reference(version: ModelVersion, **where: str) -> ModelReference:
    """A reference that grades with one of our versions: it carries the version and the prompt it was trained
    with; `where` is the backend, server and model name to reach it by."""
    return ModelReference(version_id=version.pk, prompt_variant=version.prompt_variant, **where)


def model_reference_resolve(*, ref: str) -> ModelReference:
    """Resolve a model reference (see the module's doc) to the server and model to grade with."""
    ref = ref.strip()
    name, at, spec = ref.partition("@")
    if not name:
        raise InvalidInput("A model reference cannot be empty.", field="ref")
    if looks_like_path(name):
        return _gguf_file_reference(ref, name, served_elsewhere=bool(at))
    version = _version_for(name)
    if version is None:
        backend, base_url = _server(spec if at else None, ref)
        return ModelReference(ref=ref, backend=backend, base_url=base_url, model=name)
    if at and spec == LOCAL_BACKEND:
        return _local_reference(ref, version)
    if version.served_name:
        backend, base_url = _server(spec if at else None, ref)
        return _version_reference(version, ref=ref, backend=backend, base_url=base_url, model=version.served_name)
    if version.gguf_path and not at and importlib.util.find_spec("llama_cpp") is None and version_checkpoint(version):
        return _local_reference(ref, version)  # no llama.cpp to serve the file: run the checkpoint here
    if version.gguf_path and not at:
        # The GGUF file was written by our own fine-tune run, read-only everywhere.
        return _version_reference(
            version, ref=ref, backend=GGUF_BACKEND, base_url="", model=version.reference, gguf_path=version.gguf_path
        )
    raise InvalidInput(
        f"{version.reference} has no served name{'' if at else ' and no GGUF file'}: there is nothing to grade with.",
        field="ref",
    )


@cached_lookup("training.ModelVersion")
def model_for_category(category: str) -> str | None:
    """The served name of the active version for `category`, else of the active `all` version, else None
    (the caller falls back to the configured default model). Cached per process for a few seconds
    (ready4hire.lookups): a promotion here is seen at once, one in another process within seconds."""
    active = dict(
        ModelVersion.objects.filter(status=Status.ACTIVE, category__in=[category, Category.ALL])
        .exclude(served_name="")
        .values_list("category", "served_name")
    )
    return active.get(category) or active.get(Category.ALL)


@cached_lookup("training.ModelVersion")
def model_prompt_variant(model: str) -> str:
    """The system prompt to send `model`, a name on the LLM server: the variant its version was trained with
    (the active one first, then the newest, when several versions share the name); full for any other model."""
    variant = (
        ModelVersion.objects.filter(served_name=model)
        .order_by(
            Case(When(status=Status.ACTIVE, then=Value(0)), default=Value(1), output_field=IntegerField()),
            "-created_at",
            "-pk",
        )
        .values_list("prompt_variant", flat=True)
        .first()
    )
    return variant or PromptVariant.FULL
